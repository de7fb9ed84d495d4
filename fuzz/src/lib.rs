//! Shared set-up and oracles for the fuzz targets in `fuzz_targets/`.
//!
//! [`stack`] builds one in-memory auth stack per process (SQLite in memory, an active signing
//! key, one binding, one genuine token). [`check_route`] states what every accepted route must
//! satisfy, using reference checks written independently of `dataplane::route`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use auth::{
    AuthError, Authenticator, CredentialCache, IssueRequest, Issuer, Keyring, TokenSettings,
    Verifier,
};
use dataplane::__private::Route;
use store::{MasterKey, NewBinding, Secret, SqliteStore, StoreHandle};

/// The clock every target verifies at (unix seconds).
pub const NOW: i64 = 1_700_000_000;

/// Route prefixes the route target picks from: the default, none, and a short custom one.
pub const PREFIXES: [&str; 3] = ["/v2/compute/internal/binding-proxy", "", "/p"];

/// The auth stack the token targets share.
pub struct Stack {
    /// Drives the async `Authenticator` (current-thread: the fuzzer is single-threaded).
    pub runtime: tokio::runtime::Runtime,
    pub verifier: Arc<Verifier>,
    pub authenticator: Authenticator,
    /// `kid` of the active signing key, so structured inputs can name a known key.
    pub kid: String,
    /// A token minted the real way; the one token that must verify.
    pub genuine: String,
}

/// The stack, built on first use. Panics if it cannot be built: a broken harness must not
/// look like a clean fuzzing run.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(build_stack)
}

fn build_stack() -> Stack {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let settings = TokenSettings {
        issuer: "binding-proxy-fuzz".to_owned(),
        audience: "telnyx-api".to_owned(),
        leeway_secs: 30,
        default_ttl_secs: 900,
        max_ttl_secs: 86_400,
    };
    let (verifier, authenticator, kid, genuine) = runtime.block_on(async {
        let sqlite = SqliteStore::connect("sqlite::memory:", MasterKey::generate())
            .await
            .expect("in-memory sqlite store opens");
        let store: StoreHandle = Arc::new(sqlite);
        let keyring = Keyring::load(&store).await.expect("empty keyring loads");
        let issuer = Issuer::new(store.clone(), keyring.clone(), settings.clone());
        issuer
            .ensure_signing_key(NOW)
            .await
            .expect("signing key is created");
        let binding = store
            .create_binding(
                NewBinding {
                    org_id: "org-fuzz".to_owned(),
                    api_key: Secret::from("KEYfuzz-upstream-secret".to_owned()),
                    scopes: vec!["kv".to_owned(), "messaging".to_owned()],
                    rate_limit: None,
                },
                NOW,
            )
            .await
            .expect("binding is created");
        let issued = issuer
            .issue(&binding, IssueRequest::default(), NOW)
            .await
            .expect("token is issued");
        let verifier = Arc::new(Verifier::new(keyring.clone(), settings, 1_000));
        let credentials = Arc::new(CredentialCache::new(store, Duration::from_secs(60), 1_000));
        let authenticator = Authenticator::new(verifier.clone(), credentials);
        let kid = keyring.active_kid().expect("an active key exists");
        (verifier, authenticator, kid, issued.token)
    });
    // Positive control: the harness accepts a genuine token, so "every fuzz input is refused"
    // means something.
    assert!(
        verifier.verify(&genuine, NOW).is_ok(),
        "genuine token must verify"
    );
    Stack {
        runtime,
        verifier,
        authenticator,
        kid,
        genuine,
    }
}

/// Asserts `result` is a refusal `Verifier::verify` documents for a bad token: never `Ok`,
/// never an internal or store error (those would be a 5xx for client garbage).
pub fn assert_token_refused<T>(result: &Result<T, AuthError>, token: &str) {
    let err = match result {
        Ok(_) => panic!("random token verified: {token:?}"),
        Err(err) => err,
    };
    match err {
        AuthError::TokenMissing
        | AuthError::TokenMalformed
        | AuthError::TokenAlgorithmRejected
        | AuthError::TokenHeaderRejected
        | AuthError::TokenTooLarge
        | AuthError::TokenKeyUnknown
        | AuthError::TokenSignatureInvalid
        | AuthError::TokenClaimsInvalid
        | AuthError::TokenExpired
        | AuthError::TokenNotYetValid => {}
        AuthError::TokenRevoked
        | AuthError::TokenSuperseded
        | AuthError::BindingNotFound
        | AuthError::StoreUnavailable(_)
        | AuthError::Internal { .. } => {
            panic!("bad token {token:?} gave {err:?}, not a token refusal")
        }
    }
}

/// The upstream path-and-query of an accepted route.
///
/// `Route` exposes it only inside the crate; its `Debug` is `Route { upstream: <pq> }` where
/// `<pq>` is `PathAndQuery`'s `Display` (the raw string). If that shape changes this panics,
/// loudly, rather than checking nothing.
pub fn upstream_of(route: &Route) -> String {
    let debug = format!("{route:?}");
    debug
        .strip_prefix("Route { upstream: ")
        .and_then(|rest| rest.strip_suffix(" }"))
        .unwrap_or_else(|| panic!("unexpected Route Debug shape: {debug}"))
        .to_owned()
}

/// Parses `target` under `prefix` and, if it routes, asserts the forwarding invariants:
/// - the upstream path starts with `/v2/`;
/// - it is the received path after `{prefix}/` (or `{prefix}/v2/`), byte for byte;
/// - fully percent-decoded and split on `/` and `\`, it has no `.` or `..` segment;
/// - no server that normalises before resolving dot segments reads one either: `;…` path
///   parameters cut off (before or after decoding), escapes decoded twice, overlong UTF-8 read
///   as ASCII ([`a_server_reads_a_dot_segment`]);
/// - fully percent-decoded, it has no control byte (and the raw upstream string has none), no
///   `;`, no escape left (nothing to decode twice), and it is UTF-8;
/// - the query (from the first `?`) is byte-identical to the received one.
pub fn check_route(prefix: &str, target: &str) {
    let Ok(route) = Route::parse(prefix, target) else {
        return;
    };
    let upstream = upstream_of(&route);
    let (path, query) = split_query(&upstream);
    let (received_path, received_query) = split_query(target);

    assert!(path.starts_with("/v2/"), "{target:?} -> {upstream:?}");
    assert_eq!(query, received_query, "query changed: {target:?}");
    let rest = &path["/v2/".len()..];
    assert!(!rest.is_empty(), "empty API path: {target:?}");
    let under_prefix = received_path
        .strip_prefix(prefix)
        .and_then(|after| after.strip_prefix('/'))
        .unwrap_or_else(|| panic!("routed from outside the prefix: {target:?}"));
    assert!(
        under_prefix == rest || under_prefix.strip_prefix("v2/") == Some(rest),
        "path not forwarded byte for byte: {target:?} -> {upstream:?}"
    );

    assert!(
        !upstream.bytes().any(is_control),
        "raw control byte: {target:?}"
    );
    let decoded = percent_decode(path.as_bytes());
    assert!(
        !decoded.iter().copied().any(is_control),
        "encoded control byte: {target:?}"
    );
    assert!(
        !decoded
            .split(|b| *b == b'/' || *b == b'\\')
            .any(|segment| segment == b"." || segment == b".."),
        "dot segment reached upstream: {target:?} -> {upstream:?}"
    );
    assert!(
        !a_server_reads_a_dot_segment(path.as_bytes()),
        "a normalising server reads a dot segment: {target:?} -> {upstream:?}"
    );
    assert!(!decoded.contains(&b';'), "`;` reached upstream: {target:?}");
    assert!(
        percent_decode(&decoded) == decoded,
        "an escape encoded twice reached upstream: {target:?}"
    );
    assert!(
        std::str::from_utf8(&decoded).is_ok(),
        "escapes that are not UTF-8 reached upstream: {target:?}"
    );
}

/// Whether a server could resolve a `.` or `..` segment in `path`, reading it as servers do
/// before they resolve dot segments: `;…` path parameters cut off each segment before
/// (Tomcat, Jetty) or after decoding, escapes decoded once or twice, overlong UTF-8 read as
/// the ASCII it spells, segments split on `/` and `\`.
pub fn a_server_reads_a_dot_segment(path: &[u8]) -> bool {
    let cut_first = path
        .split(|b| *b == b'/')
        .map(cut_path_parameters)
        .collect::<Vec<_>>()
        .join(&b'/');
    [path.to_vec(), cut_first].iter().any(|start| {
        let once = percent_decode(start);
        let twice = percent_decode(&once);
        [fold_overlong_utf8(&once), fold_overlong_utf8(&twice), once, twice]
            .iter()
            .any(|decoded| {
                decoded
                    .split(|b| *b == b'/' || *b == b'\\')
                    .map(cut_path_parameters)
                    .any(|segment| segment == b"." || segment == b"..")
            })
    })
}

/// A segment without its `;…` path parameters.
fn cut_path_parameters(segment: &[u8]) -> &[u8] {
    segment.split(|b| *b == b';').next().unwrap_or(segment)
}

/// `bytes` with each overlong UTF-8 form of an ASCII character (2 to 6 bytes) replaced by
/// that character, as a lenient decoder reads it.
fn fold_overlong_utf8(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let lead = bytes[i];
        let (len, bits) = match lead {
            0xC0..=0xDF => (2, lead & 0x1F),
            0xE0..=0xEF => (3, lead & 0x0F),
            0xF0..=0xF7 => (4, lead & 0x07),
            0xF8..=0xFB => (5, lead & 0x03),
            0xFC..=0xFD => (6, lead & 0x01),
            _ => (1, lead),
        };
        if len > 1
            && let Some(tail) = bytes.get(i + 1..i + len)
            && tail.iter().all(|b| b & 0xC0 == 0x80)
        {
            let value = tail
                .iter()
                .fold(u32::from(bits), |value, b| value << 6 | u32::from(b & 0x3F));
            if let Ok(ascii) = u8::try_from(value)
                && ascii.is_ascii()
            {
                out.push(ascii);
                i += len;
                continue;
            }
        }
        out.push(lead);
        i += 1;
    }
    out
}

fn split_query(target: &str) -> (&str, &str) {
    match target.find('?') {
        Some(at) => target.split_at(at),
        None => (target, ""),
    }
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// Decodes every valid `%XX`; anything else is kept as is. Deliberately not the router's code.
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && hex.iter().all(u8::is_ascii_hexdigit)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}
