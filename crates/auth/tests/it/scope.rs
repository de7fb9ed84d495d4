//! The scope table: default prefixes, whole-segment matching, the encoding rule, `kv:<id>`
//! narrowing, the binding ∩ token intersection, configuration, and minting with `account`.

use std::collections::BTreeMap;

use auth::scope::{
    SERVICES, ScopeTable, ScopeTableError, first_path_byte, is_valid_prefix, strip_path_prefix,
};
use auth::{IssueError, IssueRequest};

use crate::harness::{Harness, NOW};

fn scopes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Allowed by a binding granting `binding` and a token without `scp`.
fn binding_allows(binding: &[&str], path: &str) -> bool {
    ScopeTable::defaults().allows_scopes(&scopes(binding), None, path)
}

#[test]
fn every_service_has_its_default_prefixes() {
    let table = ScopeTable::defaults();
    for (path, service) in [
        ("calls/abc/actions/answer", "voice"),
        ("texml_calls/x", "voice"),
        ("media", "voice"),
        ("messages", "messaging"),
        ("messaging_profiles/1", "messaging"),
        ("phone_numbers?filter=x", "numbers"),
        ("number_lookup/+15551234567", "numbers"),
        ("faxes", "fax"),
        ("verify_profiles/1", "verify"),
        ("storage/kvs", "kv"),
        ("storage/kvs/ns-1/keys/a%2Fb", "kv"),
        ("balance", "account"),
    ] {
        assert_eq!(table.service_for(path), Some(service), "{path}");
        assert!(binding_allows(&[service], path), "{path}");
        for other in SERVICES.iter().filter(|s| **s != service) {
            assert!(!binding_allows(&[other], path), "{other} opened {path}");
        }
    }
    assert_eq!(table.prefixes("account"), Some(&["balance".to_owned()][..]));
    assert_eq!(table.prefixes("kv"), Some(&["storage/kvs".to_owned()][..]));
    assert_eq!(table.prefixes("kv:ns-1"), None);
}

#[test]
fn prefixes_match_whole_segments_only() {
    assert_eq!(strip_path_prefix("messages", "messages"), Some(""));
    assert_eq!(strip_path_prefix("messages/x", "messages"), Some("/x"));
    assert_eq!(strip_path_prefix("messages?x", "messages"), Some("?x"));
    assert_eq!(strip_path_prefix("messages_x", "messages"), None);
    assert_eq!(strip_path_prefix("messagesx/y", "messages"), None);
    assert_eq!(strip_path_prefix("message", "messages"), None);
    assert_eq!(strip_path_prefix("storage/kvsx", "storage/kvs"), None);
    assert!(!binding_allows(&["messaging"], "messages_x"));
    assert!(!binding_allows(&["voice"], "callsx"));
    assert!(!binding_allows(&["account"], "balance_history"));
}

#[test]
fn first_path_byte_decodes_as_strip_path_prefix_compares() {
    assert_eq!(first_path_byte("messages"), Some(b'm'));
    assert_eq!(first_path_byte("%6Dessages"), Some(b'm'));
    assert_eq!(first_path_byte("%6dessages"), Some(b'm'));
    // Reserved and broken escapes stay the `%` they start with.
    assert_eq!(first_path_byte("%2Fmessages"), Some(b'%'));
    assert_eq!(first_path_byte("%6"), Some(b'%'));
    assert_eq!(first_path_byte(""), None);
}

#[test]
fn unreserved_escapes_count_as_their_character() {
    for path in ["mess%61ges", "mess%61ges/x", "%6D%65ssages", "messag%65s?x"] {
        assert!(binding_allows(&["messaging"], path), "{path}");
        assert!(!binding_allows(&["voice"], path), "{path}");
    }
    // A percent-encoded `_` in the middle of a service name is still that name.
    assert!(binding_allows(&["numbers"], "phone%5Fnumbers"));
    assert!(binding_allows(&["kv"], "storage/kv%73/ns-1"));
    // Reserved escapes are not decoded: `%2F` is not a segment separator here.
    assert!(!binding_allows(&["kv"], "storage%2Fkvs"));
    assert!(!binding_allows(&["messaging"], "messages%2F"));
    assert_eq!(ScopeTable::defaults().service_for("storage%2Fkvs"), None);
}

#[test]
fn paths_no_prefix_opens_are_denied() {
    let table = ScopeTable::defaults();
    for path in [
        "",
        "nothing",
        "api_keys",
        "_emulator/sink",
        "MESSAGES",
        "compute/x",
    ] {
        assert_eq!(table.service_for(path), None, "{path}");
        assert!(
            !table.allows_scopes(&scopes(&SERVICES), None, path),
            "{path}"
        );
    }
}

#[test]
fn kv_namespace_scope_opens_that_namespace_only() {
    let ns1 = ["kv:ns-1"];
    for path in [
        "storage/kvs/ns-1",
        "storage/kvs/ns-1/keys",
        "storage/kvs/ns-1/keys/user%2F123",
        "storage/kvs/ns-1?x=1",
        "storage/kvs/ns%2D1/keys",
        "storage/kvs/n%73-1",
    ] {
        assert!(binding_allows(&ns1, path), "{path}");
    }
    for path in [
        "storage/kvs",
        "storage/kvs/",
        "storage/kvs?page=1",
        "storage/kvs/ns-2",
        "storage/kvs/ns-10/keys",
        "storage/kvs/ns-1x",
        "storage/kvs/ns-1%2Fkeys",
        "storage/kvs/NS-1",
        "messages",
    ] {
        assert!(!binding_allows(&ns1, path), "{path}");
    }
    // The bare service opens the list and every namespace.
    assert!(binding_allows(&["kv"], "storage/kvs"));
    assert!(binding_allows(&["kv"], "storage/kvs/ns-2/keys/a"));
}

#[test]
fn effective_scope_is_the_intersection_of_binding_and_token() {
    let table = ScopeTable::defaults();
    let binding = scopes(&["messaging", "kv", "account"]);
    let token = scopes(&["kv:ns-1"]);
    assert!(table.allows_scopes(&binding, Some(&token), "storage/kvs/ns-1/keys/a"));
    assert!(!table.allows_scopes(&binding, Some(&token), "storage/kvs/ns-2/keys/a"));
    assert!(!table.allows_scopes(&binding, Some(&token), "storage/kvs"));
    assert!(!table.allows_scopes(&binding, Some(&token), "messages"));
    assert!(!table.allows_scopes(&binding, Some(&token), "balance"));
    // A token scope the binding does not grant opens nothing.
    let wider = scopes(&["voice", "messaging"]);
    assert!(!table.allows_scopes(&binding, Some(&wider), "calls"));
    assert!(table.allows_scopes(&binding, Some(&wider), "messages"));
    // A narrowed binding with a bare token scope still only opens the namespace.
    let narrow_binding = scopes(&["kv:ns-1"]);
    let bare = scopes(&["kv"]);
    assert!(table.allows_scopes(&narrow_binding, Some(&bare), "storage/kvs/ns-1"));
    assert!(!table.allows_scopes(&narrow_binding, Some(&bare), "storage/kvs"));
    // An empty `scp` opens nothing.
    assert!(!table.allows_scopes(&binding, Some(&[]), "messages"));
}

#[test]
fn configured_prefixes_replace_the_defaults_of_that_scope() {
    let table = ScopeTable::from_map(BTreeMap::from([
        ("messaging".to_owned(), scopes(&["messages", "x/y"])),
        ("fax".to_owned(), vec![]),
    ]))
    .unwrap();
    assert!(table.allows_scopes(&scopes(&["messaging"]), None, "x/y/z"));
    assert!(!table.allows_scopes(&scopes(&["messaging"]), None, "messaging_profiles"));
    assert!(!table.allows_scopes(&scopes(&["fax"]), None, "faxes"));
    assert!(table.allows_scopes(&scopes(&["voice"]), None, "calls"));
}

#[test]
fn configured_kv_prefixes_narrow_too() {
    let table =
        ScopeTable::from_map(BTreeMap::from([("kv".to_owned(), scopes(&["kv2"]))])).unwrap();
    assert!(table.allows_scopes(&scopes(&["kv:a"]), None, "kv2/a/keys"));
    assert!(!table.allows_scopes(&scopes(&["kv:a"]), None, "storage/kvs/a"));
}

#[test]
fn bad_configuration_names_every_bad_scope() {
    let problems = ScopeTable::from_map(BTreeMap::from([
        ("sms".to_owned(), scopes(&["messages"])),
        ("kv:ns-1".to_owned(), scopes(&["x"])),
        (
            "voice".to_owned(),
            scopes(&[
                "calls", "/calls", "calls/", "a//b", "a/../b", "a%2Fb", "a b", "",
            ]),
        ),
    ]))
    .unwrap_err();
    assert_eq!(
        problems,
        vec![
            ScopeTableError::UnknownScope {
                scope: "kv:ns-1".to_owned()
            },
            ScopeTableError::UnknownScope {
                scope: "sms".to_owned()
            },
            ScopeTableError::InvalidPrefix {
                scope: "voice".to_owned(),
                index: 1
            },
            ScopeTableError::InvalidPrefix {
                scope: "voice".to_owned(),
                index: 2
            },
            ScopeTableError::InvalidPrefix {
                scope: "voice".to_owned(),
                index: 3
            },
            ScopeTableError::InvalidPrefix {
                scope: "voice".to_owned(),
                index: 4
            },
            ScopeTableError::InvalidPrefix {
                scope: "voice".to_owned(),
                index: 5
            },
            ScopeTableError::InvalidPrefix {
                scope: "voice".to_owned(),
                index: 6
            },
            ScopeTableError::InvalidPrefix {
                scope: "voice".to_owned(),
                index: 7
            },
        ]
    );
    assert!(problems[0].to_string().contains("kv:ns-1"));
    assert!(problems[2].to_string().contains("voice"));
    assert!(is_valid_prefix("storage/kvs"));
    assert!(is_valid_prefix("a-b.c_d~e"));
}

#[tokio::test]
async fn tokens_wider_than_the_binding_are_still_refused_with_account() {
    let harness = Harness::new().await;
    // The harness binding grants kv and messaging only.
    for wider in [
        vec!["account".to_owned()],
        vec!["kv".to_owned(), "account".to_owned()],
        vec!["voice".to_owned()],
    ] {
        let err = harness
            .issuer
            .issue(
                &harness.binding,
                IssueRequest {
                    scopes: Some(wider.clone()),
                    ..IssueRequest::default()
                },
                NOW,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, IssueError::ScopeNotGranted { .. }),
            "{wider:?}: {err:?}"
        );
    }
    let issued = harness
        .issue_with(IssueRequest {
            scopes: Some(vec!["kv:ns-1".to_owned()]),
            ..IssueRequest::default()
        })
        .await;
    let authenticated = harness.auth(&issued.token, NOW).await.unwrap();
    let table = ScopeTable::defaults();
    assert!(table.allows(&authenticated, "storage/kvs/ns-1/keys/a"));
    assert!(!table.allows(&authenticated, "storage/kvs/ns-2/keys/a"));
    assert!(!table.allows(&authenticated, "messages"));
    assert!(!table.allows(&authenticated, "balance"));
}
