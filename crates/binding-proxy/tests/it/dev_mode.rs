//! `binding-proxy dev` prints an admin token, a function token and a curl line that works.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::bin;

#[tokio::test]
async fn dev_banner_curl_line_succeeds_when_pasted() {
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
    let mut curl = None;
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read banner") {
            let line = line.trim().to_owned();
            if let Some(assignment) = line.strip_prefix("export ") {
                let (name, value) = assignment.split_once('=').expect("NAME=value");
                exports.push((name.to_owned(), value.to_owned()));
            }
            if line.starts_with("curl ") {
                curl = Some(line);
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("banner within 60 s");
    let curl = curl.expect("a curl line");
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "BINDING_PROXY_ADMIN_URL",
        "BINDING_PROXY_ADMIN_TOKEN",
        "TELNYX_BASE_URL",
        "TELNYX_API_KEY",
    ] {
        assert!(names.contains(&name), "{name} in banner: {names:?}");
    }

    // Paste the curl line into a shell with the printed exports.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{curl} --fail --max-time 20"))
        .envs(exports.iter().map(|(n, v)| (n.clone(), v.clone())))
        .output()
        .await
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert_eq!(body["data"]["record_type"], "balance");

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
