//! What `dev` prints: where everything listens, the operator's and the function's environment,
//! and one line per advertised binding to paste into a shell.

use std::net::SocketAddr;

use super::demo_kv;

/// The KV key and value the banner's put and get lines use.
const DEMO_KEY: &str = "greeting";
const DEMO_VALUE: &str = "hello from binding-proxy dev";
/// Stands in for audio in the speech-to-text line; the emulator counts its bytes.
const DEMO_AUDIO: &str = "pretend this is audio";

/// Everything the banner shows. It holds the admin token and the function's token, printed on
/// purpose for the developer to copy, so it has no `Debug`.
pub(super) struct Banner<'a> {
    /// The emulator's base URL.
    pub(super) upstream: &'a str,
    pub(super) dataplane_addr: SocketAddr,
    /// The admin API's base URL.
    pub(super) admin_url: &'a str,
    pub(super) admin_token: &'a str,
    /// The demo binding's organization and the demo token's function.
    pub(super) org_id: &'a str,
    pub(super) function_id: &'a str,
    /// `TELNYX_BASE_URL`: the data plane's public base URL with its path prefix.
    pub(super) base: &'a str,
    /// `TELNYX_API_KEY`: the demo function's token.
    pub(super) jwt: &'a str,
    /// The id of the demo KV namespace.
    pub(super) kv_namespace_id: &'a str,
}

impl Banner<'_> {
    /// The banner text, starting and ending with a newline.
    pub(super) fn render(&self) -> String {
        let Self {
            upstream,
            dataplane_addr,
            admin_url,
            admin_token,
            org_id,
            function_id,
            base,
            jwt,
            kv_namespace_id: kv_id,
        } = self;
        let kv_name = demo_kv::NAME;
        let bearer = r#"-H "Authorization: Bearer $TELNYX_API_KEY""#;
        let key_url = format!(r#""$TELNYX_BASE_URL/v2/storage/kvs/{kv_id}/keys/{DEMO_KEY}""#);
        let transcription = format!("{}/speech-to-text/transcription", websocket_base(base));
        format!(
            "\nbinding-proxy dev is running (everything in memory; upstream = built-in emulator at {upstream})\n\
             \n  data plane  http://{dataplane_addr}\n  admin API   {admin_url}\n  demo KV     namespace {kv_name}, id {kv_id}\n\
             \nOperator (CLI and admin API):\n  export BINDING_PROXY_ADMIN_URL={admin_url}\n  export BINDING_PROXY_ADMIN_TOKEN={admin_token}\n  binding-proxy bindings get {org_id}\n\
             \nFunction environment ({org_id}/{function_id}):\n  export TELNYX_BASE_URL={base}\n  export TELNYX_API_KEY={jwt}\n\
             \nTry it (balance; a KV put and get; a speech-to-text session):\n  \
             curl -sS {bearer} \"$TELNYX_BASE_URL/v2/balance\"\n  \
             curl -sS -w '%{{http_code}}\\n' -X PUT {bearer} --data-binary '{DEMO_VALUE}' {key_url}\n  \
             curl -sS -w '\\n' {bearer} {key_url}\n  \
             printf '{DEMO_AUDIO}' | websocat -b -1 \"{transcription}\" {bearer}\n  \
             (the last line needs websocat: cargo install websocat)\n",
        )
    }
}

/// The WebSocket form of an `http(s)://` base URL, without a trailing slash.
fn websocket_base(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banner() -> String {
        Banner {
            upstream: "http://127.0.0.1:1111",
            dataplane_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_url: "http://127.0.0.1:9090",
            admin_token: "ADMIN_TOKEN",
            org_id: "demo-org",
            function_id: "demo-function",
            base: "http://127.0.0.1:8080/v2/compute/internal/binding-proxy",
            jwt: "eyJ.TOKEN",
            kv_namespace_id: "ns-123",
        }
        .render()
    }

    #[test]
    fn every_binding_has_a_line_to_paste() {
        let text = banner();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let bearer = r#"-H "Authorization: Bearer $TELNYX_API_KEY""#;
        let key = r#""$TELNYX_BASE_URL/v2/storage/kvs/ns-123/keys/greeting""#;
        assert!(lines.contains(&"export TELNYX_API_KEY=eyJ.TOKEN"), "{text}");
        assert!(lines.contains(&"export BINDING_PROXY_ADMIN_TOKEN=ADMIN_TOKEN"));
        assert!(lines.contains(
            &r#"curl -sS -H "Authorization: Bearer $TELNYX_API_KEY" "$TELNYX_BASE_URL/v2/balance""#
        ));
        assert!(lines.contains(
            &format!("curl -sS -w '%{{http_code}}\\n' -X PUT {bearer} --data-binary 'hello from binding-proxy dev' {key}").as_str()
        ), "{text}");
        assert!(
            lines.contains(&format!("curl -sS -w '\\n' {bearer} {key}").as_str()),
            "{text}"
        );
        assert!(lines.contains(
            &format!("printf 'pretend this is audio' | websocat -b -1 \"ws://127.0.0.1:8080/v2/compute/internal/binding-proxy/speech-to-text/transcription\" {bearer}").as_str()
        ), "{text}");
        assert!(text.contains("namespace demo-kv, id ns-123"), "{text}");
        assert!(
            lines.contains(&"binding-proxy bindings get demo-org"),
            "{text}"
        );
        assert!(text.contains("(demo-org/demo-function)"), "{text}");
    }

    #[test]
    fn websocket_base_follows_the_scheme() {
        assert_eq!(websocket_base("http://a:1/p/"), "ws://a:1/p");
        assert_eq!(
            websocket_base("https://proxy.example/p"),
            "wss://proxy.example/p"
        );
    }
}
