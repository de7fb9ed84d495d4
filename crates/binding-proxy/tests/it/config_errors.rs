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
