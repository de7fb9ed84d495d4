//! Bad configuration stops start-up before any port is bound, naming the key.

use std::process::Command;

use crate::bin;

fn serve_with(env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(bin());
    command.arg("serve").env_clear().current_dir(dir.path());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run binding-proxy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_setting_stops_start_up_naming_it() {
    let (code, stderr) = serve_with(&[("BINDING_PROXY__DATAPLANE__LISTN", "127.0.0.1:0")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("listn"), "{stderr}");
}

#[test]
fn invalid_values_are_all_reported_with_their_env_vars() {
    let (code, stderr) = serve_with(&[
        ("BINDING_PROXY__DATAPLANE__LISTEN", "not-an-address"),
        (
            "BINDING_PROXY__UPSTREAM__BASE_URL",
            "https://api.example.com/some/path",
        ),
        ("BINDING_PROXY__STORE__URL", "mysql://x"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    for key in [
        "BINDING_PROXY__DATAPLANE__LISTEN",
        "BINDING_PROXY__UPSTREAM__BASE_URL",
        "BINDING_PROXY__STORE__URL",
    ] {
        assert!(stderr.contains(key), "{key} missing in: {stderr}");
    }
}

#[test]
fn missing_config_file_is_an_error() {
    let out = Command::new(bin())
        .args([
            "check-config",
            "--config",
            "/nonexistent/binding-proxy.toml",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/binding-proxy.toml"));
}

#[test]
fn an_unreadable_upstream_ca_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(bin())
        .arg("serve")
        .env_clear()
        .current_dir(dir.path())
        .env("BINDING_PROXY__DATAPLANE__LISTEN", "127.0.0.1:0")
        .env("BINDING_PROXY__ADMIN__LISTEN", "127.0.0.1:0")
        .env(
            "BINDING_PROXY__UPSTREAM__CA_FILE",
            "/nonexistent/upstream-ca.pem",
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run binding-proxy");
    // A safety net so a wiring mistake (the file ignored, the service up) fails instead of
    // hanging; never the thing asserted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("binding-proxy started with an unreadable upstream.ca_file");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("/nonexistent/upstream-ca.pem"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}
