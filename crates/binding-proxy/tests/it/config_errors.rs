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

/// `check-config` with the default configuration plus `env`, run in `dir`: exit code, stdout,
/// stderr.
fn check_config_in(dir: &std::path::Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(bin());
    command.arg("check-config").env_clear().current_dir(dir);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run binding-proxy check-config");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM.
fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    (cert.pem(), key.serialize_pem())
}

#[test]
fn check_config_reads_the_upstream_ca_file_as_start_up_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, _) = self_signed();
    std::fs::write(dir.path().join("ca.pem"), ca).expect("write ca");
    std::fs::write(dir.path().join("not-pem.txt"), "just text\n").expect("write");
    std::fs::write(
        dir.path().join("broken.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");

    let (code, stdout, stderr) = check_config_in(
        dir.path(),
        &[("BINDING_PROXY__UPSTREAM__CA_FILE", "ca.pem")],
    );
    assert_eq!(
        (code, stdout.trim()),
        (0, "configuration is valid"),
        "{stderr}"
    );

    for (file, problem) in [
        ("missing.pem", "does not exist"),
        ("not-pem.txt", "holds no PEM certificate"),
        ("broken.pem", "is not valid PEM"),
    ] {
        let (code, stdout, stderr) =
            check_config_in(dir.path(), &[("BINDING_PROXY__UPSTREAM__CA_FILE", file)]);
        assert_eq!(code, 2, "{file}: {stdout}{stderr}");
        assert!(stderr.contains(file), "{file}: {stderr}");
        assert!(stderr.contains(problem), "{file}: {stderr}");
        assert!(!stdout.contains("valid"), "{file}: {stdout}");
    }
}

#[test]
fn check_config_reads_the_admin_tls_files_as_start_up_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed();
    let (_, other_key) = self_signed();
    for (name, pem) in [
        ("cert.pem", &cert),
        ("key.pem", &key),
        ("other-key.pem", &other_key),
    ] {
        std::fs::write(dir.path().join(name), pem).expect("write");
    }
    let tls = |cert: &'static str, key: &'static str| {
        [
            ("BINDING_PROXY__ADMIN__TLS_CERT_FILE", cert),
            ("BINDING_PROXY__ADMIN__TLS_KEY_FILE", key),
        ]
    };

    let (code, stdout, stderr) = check_config_in(dir.path(), &tls("cert.pem", "key.pem"));
    assert_eq!(
        (code, stdout.trim()),
        (0, "configuration is valid"),
        "{stderr}"
    );

    // A key file whose body is not base64: the parser's complaint must not quote the line.
    let secret_line = "c2VjcmV0LWtleS1tYXRlcmlhbA!!not*base64";
    std::fs::write(
        dir.path().join("broken-key.pem"),
        format!("-----BEGIN PRIVATE KEY-----\n{secret_line}\n-----END PRIVATE KEY-----\n"),
    )
    .expect("write");

    for (env, named) in [
        (tls("absent-cert.pem", "key.pem"), "absent-cert.pem"),
        (tls("cert.pem", "absent-key.pem"), "absent-key.pem"),
        (tls("cert.pem", "other-key.pem"), "other-key.pem"),
        (tls("cert.pem", "broken-key.pem"), "broken-key.pem"),
    ] {
        let (code, stdout, stderr) = check_config_in(dir.path(), &env);
        assert_eq!(code, 2, "{named}: {stdout}{stderr}");
        assert!(stderr.contains("admin TLS"), "{named}: {stderr}");
        assert!(stderr.contains(named), "{named}: {stderr}");
        // The key files' contents never reach the output.
        assert!(!stderr.contains("PRIVATE KEY"), "{named}: {stderr}");
        assert!(!stderr.contains("c2VjcmV0"), "{named}: {stderr}");
        assert!(
            !stderr.contains(key.lines().nth(1).unwrap_or("-")),
            "{named}: {stderr}"
        );
    }

    // The client CA is read too.
    let mut env = tls("cert.pem", "key.pem").to_vec();
    env.push(("BINDING_PROXY__ADMIN__TLS_CLIENT_CA_FILE", "absent-ca.pem"));
    let (code, stdout, stderr) = check_config_in(dir.path(), &env);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("absent-ca.pem"), "{stderr}");
}

#[test]
fn check_config_no_files_checks_the_settings_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = [("BINDING_PROXY__UPSTREAM__CA_FILE", "/nonexistent/ca.pem")];
    let (code, stdout, stderr) = check_config_in(dir.path(), &missing);
    assert_eq!(code, 2, "{stdout}{stderr}");

    let mut command = Command::new(bin());
    command
        .args(["check-config", "--no-files"])
        .env_clear()
        .current_dir(dir.path())
        .env(missing[0].0, missing[0].1);
    let out = command.output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // Settings are still checked.
    let out = Command::new(bin())
        .args(["check-config", "--no-files"])
        .env_clear()
        .current_dir(dir.path())
        .env("BINDING_PROXY__DATAPLANE__LISTN", "x")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
