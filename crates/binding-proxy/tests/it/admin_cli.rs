//! The operator walk-through of the seeds with the CLI against a running proxy: create, get,
//! list, validate, update (rotate), tokens issue/revoke, keys list/rotate, delete.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::{Stack, bin};

const KEY: &str = "KEY07CLI_real_upstream_key_9876";

struct Cli<'a> {
    stack: &'a Stack,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli<'_> {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut child = Command::new(bin())
            .args(args)
            .env_clear()
            .env("BINDING_PROXY_ADMIN_URL", self.stack.proxy.admin_url())
            .env("BINDING_PROXY_ADMIN_TOKEN", testkit::ADMIN_TOKEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the CLI");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.expect("write stdin");
        }
        drop(input);
        let out = child.wait_with_output().await.expect("CLI output");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let run = self.run(&all, None).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        serde_json::from_str(&run.stdout).expect("JSON output")
    }
}

#[tokio::test]
async fn operator_walkthrough_with_the_cli() {
    let stack = Stack::start(KEY).await;
    let cli = Cli { stack: &stack };

    // create: the key comes from stdin, never argv.
    let created = cli
        .run(
            &[
                "bindings", "create", "--org", "acme", "--rps", "50", "--burst", "100",
            ],
            Some(&format!("{KEY}\n")),
        )
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(created.stdout.contains("acme"));
    assert!(
        created.stdout.contains("…9876"),
        "hint shown: {}",
        created.stdout
    );
    assert!(!created.stdout.contains(KEY), "the key is never printed");

    let again = cli
        .run(&["bindings", "create", "--org", "acme"], Some(KEY))
        .await;
    assert_ne!(again.code, 0);
    assert_eq!(
        again.stderr.trim().lines().count(),
        1,
        "one-line reason: {}",
        again.stderr
    );
    assert!(again.stderr.contains("binding_exists"), "{}", again.stderr);

    let got = cli.json(&["bindings", "get", "acme"]).await;
    assert_eq!(got["org_id"], "acme");
    assert_eq!(got["generation"], 1);
    assert_eq!(got["rate_limit"]["requests_per_second"], 50);
    assert!(!got.to_string().contains(KEY));

    let listed = cli.json(&["bindings", "list"]).await;
    assert_eq!(listed["data"][0]["org_id"], "acme");

    let valid = cli.run(&["bindings", "validate", "acme"], None).await;
    assert_eq!(valid.code, 0, "{}{}", valid.stdout, valid.stderr);
    assert!(
        valid.stdout.contains("binding is valid"),
        "{}",
        valid.stdout
    );

    let issued = cli
        .json(&[
            "tokens",
            "issue",
            "acme",
            "--function-id",
            "fn-1",
            "--ttl-secs",
            "600",
        ])
        .await;
    let token = issued["token"].as_str().expect("token").to_owned();
    assert_eq!(issued["base_url"], stack.proxy.base_url());
    let ok = stack
        .http
        .get_with_token(&stack.url("/v2/balance"), &token)
        .await;
    assert_eq!(ok.status, http::StatusCode::OK);

    let revoke = cli
        .run(
            &["tokens", "revoke", issued["jti"].as_str().expect("jti")],
            None,
        )
        .await;
    assert_eq!(revoke.code, 0, "{}", revoke.stderr);
    let refused = stack
        .http
        .get_with_token(&stack.url("/v2/balance"), &token)
        .await;
    assert_eq!(refused.status, http::StatusCode::UNAUTHORIZED);

    let rotated = cli
        .json(&["bindings", "update", "acme", "--grace-period-secs", "60"])
        .await;
    assert_eq!(rotated["generation"], 2);
    assert_eq!(rotated["previous_generation"], 1);

    let keys = cli.json(&["keys", "list"]).await;
    assert_eq!(keys.as_array().map(Vec::len), Some(1));
    let old_key_token = cli.json(&["tokens", "issue", "acme"]).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let new_key = cli.json(&["keys", "rotate"]).await;
    assert_eq!(new_key["status"], "active");
    let keys = cli.json(&["keys", "list"]).await;
    assert_eq!(keys.as_array().map(Vec::len), Some(2));
    let new_kid = new_key["kid"].as_str().expect("kid");
    let active_retire = cli.run(&["keys", "retire", new_kid], None).await;
    assert_ne!(active_retire.code, 0, "the active key cannot be retired");
    assert!(
        active_retire.stderr.contains("signing_key_active"),
        "{}",
        active_retire.stderr
    );
    let old_kid = keys
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] != new_key["kid"])
        .and_then(|k| k["kid"].as_str())
        .expect("old kid")
        .to_owned();
    // A token signed by the old key works until that key is retired; new tokens use the new kid.
    let via = |t: String| {
        let stack = &stack;
        async move {
            stack
                .http
                .get_with_token(&stack.url("/v2/balance"), &t)
                .await
                .status
        }
    };
    assert_eq!(via(old_key_token.clone()).await, http::StatusCode::OK);
    let new_token = cli.json(&["tokens", "issue", "acme"]).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(testkit::jwt_header_of(&new_token)["kid"], new_key["kid"]);
    let retired = cli.json(&["keys", "retire", &old_kid]).await;
    assert_eq!(retired["status"], "retired");
    assert_eq!(via(old_key_token).await, http::StatusCode::UNAUTHORIZED);
    assert_eq!(via(new_token).await, http::StatusCode::OK);

    let deleted = cli.run(&["bindings", "delete", "acme"], None).await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let gone = cli.run(&["bindings", "get", "acme"], None).await;
    assert_ne!(gone.code, 0);
    assert!(gone.stderr.contains("not_found"), "{}", gone.stderr);

    let audit = stack
        .proxy
        .admin_call(http::Method::GET, "/v1/audit-events?limit=100", None)
        .await;
    let actions: Vec<String> = audit.json()["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect();
    for action in [
        "binding.create",
        "token.issue",
        "token.revoke",
        "binding.rotate",
        "signing_key.rotate",
        "binding.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn cli_without_admin_token_fails_with_one_line() {
    let out = Command::new(bin())
        .args(["bindings", "get", "acme"])
        .env_clear()
        .output()
        .await
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("BINDING_PROXY_ADMIN_TOKEN"), "{stderr}");
}
