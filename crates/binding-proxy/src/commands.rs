//! The operator commands: each turns CLI arguments into one admin API call and prints the
//! answer, readable by default or as JSON with `--json`.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};
use http::Method;
use serde_json::{Value, json};

use crate::admin_client::{AdminClient, Answer};
use crate::cli::{AdminConnection, BindingsCommand, KeysCommand, TokensCommand};

/// Runs a `bindings` command; returns the process exit code.
pub(crate) async fn bindings(command: BindingsCommand) -> anyhow::Result<i32> {
    match command {
        BindingsCommand::Create {
            org,
            api_key_file,
            scopes,
            rps,
            burst,
            conn,
        } => {
            let api_key = read_api_key(api_key_file.as_deref())?;
            let mut body = json!({ "org_id": org, "api_key": api_key });
            if let Some(scopes) = scopes {
                body["scopes"] = json!(scopes);
            }
            if let (Some(rps), Some(burst)) = (rps, burst) {
                body["rate_limit"] = json!({ "requests_per_second": rps, "burst": burst });
            }
            let answer = call(&conn, Method::POST, "/v1/bindings", Some(body)).await?;
            print_binding(&conn, &answer, "created")
        }
        BindingsCommand::Get { org, conn } => {
            let answer = call(&conn, Method::GET, &binding_path(&org), None).await?;
            print_binding(&conn, &answer, "binding")
        }
        BindingsCommand::List {
            limit,
            cursor,
            conn,
        } => {
            let mut path = String::from("/v1/bindings?");
            if let Some(limit) = limit {
                path.push_str(&format!("limit={limit}&"));
            }
            if let Some(cursor) = cursor {
                path.push_str(&format!("cursor={}&", encode_component(&cursor)));
            }
            let answer = call(&conn, Method::GET, path.trim_end_matches(['?', '&']), None).await?;
            if conn.json {
                return print_json(&answer.body);
            }
            let mut out = std::io::stdout().lock();
            for b in answer.body["data"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{}\tgeneration {}\tkey …{}\t{}",
                    text(&b["org_id"]),
                    b["generation"],
                    text(&b["api_key_hint"]),
                    scopes_text(&b["scopes"])
                )?;
            }
            if let Some(cursor) = answer.body["meta"]["cursor"].as_str() {
                writeln!(out, "more: --cursor {cursor}")?;
            }
            Ok(0)
        }
        BindingsCommand::Validate { org, conn } => {
            let path = format!("{}/validate", binding_path(&org));
            let answer = call(&conn, Method::POST, &path, None).await?;
            let valid = answer.body["data"]["valid"].as_bool().unwrap_or(false);
            if conn.json {
                print_json(&answer.body["data"])?;
            } else {
                let mut out = std::io::stdout().lock();
                for check in answer.body["data"]["checks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let mark = if check["ok"].as_bool() == Some(true) {
                        "ok  "
                    } else {
                        "FAIL"
                    };
                    writeln!(
                        out,
                        "{mark} {}: {}",
                        text(&check["name"]),
                        text(&check["detail"])
                    )?;
                }
                writeln!(
                    out,
                    "{}",
                    if valid {
                        "binding is valid"
                    } else {
                        "binding validation failed"
                    }
                )?;
            }
            Ok(if valid { 0 } else { 1 })
        }
        BindingsCommand::Update {
            org,
            grace_period_secs,
            conn,
        } => {
            let path = format!("{}/rotate", binding_path(&org));
            let body = json!({ "grace_period_secs": grace_period_secs });
            let answer = call(&conn, Method::POST, &path, Some(body)).await?;
            print_binding(&conn, &answer, "rotated")
        }
        BindingsCommand::Delete { org, conn } => {
            call(&conn, Method::DELETE, &binding_path(&org), None).await?;
            if conn.json {
                print_json(&json!({ "deleted": org }))?;
            } else {
                writeln!(std::io::stdout().lock(), "deleted binding of {org}")?;
            }
            Ok(0)
        }
    }
}

/// Runs a `tokens` command.
pub(crate) async fn tokens(command: TokensCommand) -> anyhow::Result<i32> {
    match command {
        TokensCommand::Issue {
            org,
            function_id,
            ttl_secs,
            scopes,
            conn,
        } => {
            let mut body = json!({});
            if let Some(f) = function_id {
                body["function_id"] = json!(f);
            }
            if let Some(ttl) = ttl_secs {
                body["ttl_secs"] = json!(ttl);
            }
            if let Some(scopes) = scopes {
                body["scopes"] = json!(scopes);
            }
            let path = format!("{}/tokens", binding_path(&org));
            let answer = call(&conn, Method::POST, &path, Some(body)).await?;
            let data = &answer.body["data"];
            if conn.json {
                return print_json(data);
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "TELNYX_API_KEY={}", text(&data["token"]))?;
            writeln!(out, "TELNYX_BASE_URL={}", text(&data["base_url"]))?;
            writeln!(
                out,
                "# jti {} · generation {} · expires {}",
                text(&data["jti"]),
                data["generation"],
                text(&data["expires_at"])
            )?;
            Ok(0)
        }
        TokensCommand::Revoke { jti, conn } => {
            let path = format!("/v1/tokens/{}", encode_component(&jti));
            call(&conn, Method::DELETE, &path, None).await?;
            if conn.json {
                print_json(&json!({ "revoked": jti }))?;
            } else {
                writeln!(std::io::stdout().lock(), "revoked token {jti}")?;
            }
            Ok(0)
        }
    }
}

/// Runs a `keys` command.
pub(crate) async fn keys(command: KeysCommand) -> anyhow::Result<i32> {
    let (conn, answer) = match command {
        KeysCommand::List { conn } => {
            let answer = call(&conn, Method::GET, "/v1/signing-keys", None).await?;
            (conn, answer)
        }
        KeysCommand::Rotate { conn } => {
            let answer = call(&conn, Method::POST, "/v1/signing-keys/rotate", None).await?;
            (conn, answer)
        }
        KeysCommand::Retire { kid, conn } => {
            let path = format!("/v1/signing-keys/{}/retire", encode_component(&kid));
            let answer = call(&conn, Method::POST, &path, None).await?;
            (conn, answer)
        }
    };
    if conn.json {
        return print_json(&answer.body["data"]);
    }
    let mut out = std::io::stdout().lock();
    let keys = match &answer.body["data"] {
        Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    };
    for key in keys {
        writeln!(
            out,
            "{}\t{}\t{}\tcreated {}",
            text(&key["kid"]),
            text(&key["algorithm"]),
            text(&key["status"]),
            text(&key["created_at"])
        )?;
    }
    Ok(0)
}

async fn call(
    conn: &AdminConnection,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Answer> {
    if conn.admin_token.is_none() {
        bail!("no admin token: set BINDING_PROXY_ADMIN_TOKEN or pass --admin-token");
    }
    let client = AdminClient::new(&conn.admin_url, conn.admin_token.clone())?;
    client.call(method, path, body).await
}

/// Reads the upstream key from a file or one line of stdin; never from argv.
fn read_api_key(file: Option<&Path>) -> anyhow::Result<String> {
    let raw = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the API key from {}", path.display()))?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the API key from stdin")?;
            line
        }
    };
    let key = raw.trim().to_owned();
    if key.is_empty() {
        bail!("the API key is empty (pipe it on stdin or pass --api-key-file)");
    }
    Ok(key)
}

fn binding_path(org: &str) -> String {
    format!("/v1/bindings/{}", encode_component(org))
}

/// Percent-encodes everything but unreserved characters, for one path segment or query value.
fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn print_binding(conn: &AdminConnection, answer: &Answer, verb: &str) -> anyhow::Result<i32> {
    let b = &answer.body["data"];
    if conn.json {
        return print_json(b);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{verb}: binding {} for {}",
        text(&b["id"]),
        text(&b["org_id"])
    )?;
    writeln!(out, "  generation   {}", b["generation"])?;
    writeln!(out, "  api key      …{}", text(&b["api_key_hint"]))?;
    writeln!(out, "  scopes       {}", scopes_text(&b["scopes"]))?;
    let rate = &b["rate_limit"];
    if rate.is_object() {
        writeln!(
            out,
            "  rate limit   {} req/s, burst {}",
            rate["requests_per_second"], rate["burst"]
        )?;
    } else {
        writeln!(out, "  rate limit   default")?;
    }
    if let Some(until) = b["previous_generation_expires_at"].as_str() {
        writeln!(
            out,
            "  generation {} stays valid until {until}",
            b["previous_generation"]
        )?;
    }
    writeln!(out, "  updated      {}", text(&b["updated_at"]))?;
    Ok(0)
}

fn print_json(value: &Value) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(0)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

fn scopes_text(value: &Value) -> String {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_are_percent_encoded() {
        assert_eq!(encode_component("acme/../x y"), "acme%2F..%2Fx%20y");
        assert_eq!(encode_component("org-1_a.b~"), "org-1_a.b~");
    }
}
