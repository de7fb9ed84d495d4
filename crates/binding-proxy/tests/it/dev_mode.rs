//! `binding-proxy dev` prints an admin token, a function token and lines to paste that work:
//! balance, a KV put and get on the demo namespace, and a speech-to-text WebSocket session.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::bin;

/// Runs one pasted banner line in a shell with the printed exports; returns its stdout.
async fn paste(line: &str, exports: &[(String, String)]) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{line} --fail --max-time 20"))
        .envs(exports.iter().map(|(n, v)| (n.clone(), v.clone())))
        .output()
        .await
        .expect("run curl");
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 answer")
}

#[tokio::test]
async fn dev_banner_lines_succeed_when_pasted() {
    let mut child = Command::new(bin())
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("BINDING_PROXY__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn dev");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut exports = Vec::new();
    let mut curls = Vec::new();
    let mut websocket = None;
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read banner") {
            let line = line.trim().to_owned();
            if let Some(assignment) = line.strip_prefix("export ") {
                let (name, value) = assignment.split_once('=').expect("NAME=value");
                exports.push((name.to_owned(), value.to_owned()));
            }
            if line.starts_with("curl ") {
                curls.push(line);
            } else if line.starts_with("printf ") {
                // The speech-to-text line comes last.
                websocket = Some(line);
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("banner within 60 s");
    let [balance, kv_put, kv_get] = curls.as_slice() else {
        panic!("three curl lines (balance, KV put, KV get): {curls:?}");
    };
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "BINDING_PROXY_ADMIN_URL",
        "BINDING_PROXY_ADMIN_TOKEN",
        "TELNYX_BASE_URL",
        "TELNYX_API_KEY",
    ] {
        assert!(names.contains(&name), "{name} in banner: {names:?}");
    }

    // Paste the curl lines, in order, into a shell with the printed exports.
    let body: serde_json::Value =
        serde_json::from_str(&paste(balance, &exports).await).expect("JSON answer");
    assert_eq!(body["data"]["record_type"], "balance");
    // The demo namespace exists: the put creates the key, the get reads back what was put.
    assert!(kv_put.contains("-X PUT"), "{kv_put}");
    assert_eq!(paste(kv_put, &exports).await, "201\n");
    assert_eq!(
        paste(kv_get, &exports).await,
        "hello from binding-proxy dev\n"
    );

    // The speech-to-text line opens a WebSocket session on the SDK route form, with the token.
    let websocket = websocket.expect("a speech-to-text line");
    let base = &exports
        .iter()
        .find(|(name, _)| name == "TELNYX_BASE_URL")
        .expect("TELNYX_BASE_URL")
        .1;
    let url = format!(
        "{}/speech-to-text/transcription",
        base.replacen("http://", "ws://", 1)
    );
    assert!(
        websocket.contains(&format!(
            r#"websocat -b -1 "{url}" -H "Authorization: Bearer $TELNYX_API_KEY""#
        )),
        "{websocket}"
    );
    // That session works through the proxy: a frame of audio, a transcript back.
    let token = &exports
        .iter()
        .find(|(name, _)| name == "TELNYX_API_KEY")
        .expect("TELNYX_API_KEY")
        .1;
    let request = crate::websocket::handshake(&url, Some(token));
    let mut session = crate::websocket::connect(request)
        .await
        .expect("a session through the proxy");
    {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        session
            .send(Message::Binary(vec![0u8; 320].into()))
            .await
            .expect("audio");
        let event = crate::websocket::next_message(&mut session, Duration::from_secs(20)).await;
        let Some(Message::Text(event)) = event else {
            panic!("a transcript event, got {event:?}");
        };
        let event: serde_json::Value = serde_json::from_str(&event).expect("JSON event");
        assert_eq!(event["type"], "transcript");
        assert_eq!(event["transcript"], "320 bytes of audio");
    }

    // The printed admin credentials work with the CLI.
    let out = Command::new(bin())
        .args(["bindings", "get", "demo-org"])
        .envs(exports.iter().map(|(n, v)| (n.clone(), v.clone())))
        .output()
        .await
        .expect("run CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("demo-org"));
}
