//! The documentation names what the code does: every error code is in docs/errors.md.

#[test]
fn every_error_code_is_documented() {
    let doc = include_str!("../../../../docs/errors.md");
    for code in auth::ErrorCode::ALL {
        let needle = format!("`{}`", code.as_str());
        assert!(doc.contains(&needle), "docs/errors.md lacks {needle}");
    }
}

#[test]
fn every_configuration_section_is_documented() {
    let doc = include_str!("../../../../docs/configuration.md");
    for section in [
        "[dataplane]",
        "[upstream]",
        "[admin]",
        "[store]",
        "[crypto]",
        "[tokens]",
        "[cache]",
        "[log]",
        "[scopes]",
        "[shutdown]",
        "[websocket]",
    ] {
        assert!(
            doc.contains(section),
            "docs/configuration.md lacks {section}"
        );
    }
    for key in [
        "listen",
        "path_prefix",
        "public_base_url",
        "header_read_timeout_ms",
        "max_header_bytes",
        "base_url",
        "connect_timeout_ms",
        "response_timeout_ms",
        "pool_idle_timeout_secs",
        "ca_file",
        "token_sha256",
        "probe_path",
        "probe_timeout_ms",
        "url",
        "master_key_file",
        "issuer",
        "audience",
        "default_ttl_secs",
        "max_ttl_secs",
        "leeway_secs",
        "token_capacity",
        "credential_capacity",
        "credential_ttl_secs",
        "max_stale_secs",
        "format",
        "level",
        "grace_secs",
        "max_body_bytes",
        "client_idle_timeout_secs",
        "max_connections",
        "deny_prefixes",
        "tls_cert_file",
        "tls_key_file",
        "tls_client_ca_file",
        "default_requests_per_second",
        "default_burst",
        "idle_secs",
        "max_tracked",
        "worker_threads",
    ] {
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/configuration.md lacks `{key}`"
        );
    }
}
