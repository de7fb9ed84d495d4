//! Contract: the audit log.

use serde_json::json;
use store::{AuditFilter, NewAuditEvent, StoreHandle};

use super::NOW;

fn event(at: i64, action: &str, org_id: Option<&str>) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor: "admin-1".to_owned(),
        action: action.to_owned(),
        org_id: org_id.map(str::to_owned),
        binding_id: org_id.map(|org| format!("binding-of-{org}")),
        detail: json!({ "grace_period_secs": 30, "scopes": ["kv"] }),
    }
}

fn filter(org_id: Option<&str>, before_id: Option<i64>, limit: u32) -> AuditFilter {
    AuditFilter {
        org_id: org_id.map(str::to_owned),
        before_id,
        limit,
    }
}

pub(crate) async fn append_audit_returns_the_event_with_increasing_ids(store: StoreHandle) {
    let first = store
        .append_audit(event(NOW, "binding.create", Some("org-a")))
        .await
        .expect("append");
    assert_eq!(first.at, NOW);
    assert_eq!(first.actor, "admin-1");
    assert_eq!(first.action, "binding.create");
    assert_eq!(first.org_id.as_deref(), Some("org-a"));
    assert_eq!(first.binding_id.as_deref(), Some("binding-of-org-a"));
    assert_eq!(
        first.detail,
        json!({ "grace_period_secs": 30, "scopes": ["kv"] })
    );
    let second = store
        .append_audit(event(NOW, "signing_key.rotate", None))
        .await
        .expect("append");
    assert!(second.id > first.id);
    assert_eq!((second.org_id, second.binding_id), (None, None));
    let listed = store
        .list_audit(filter(None, None, 10))
        .await
        .expect("list");
    assert_eq!(listed[1], first, "every field reads back");
}

pub(crate) async fn list_audit_is_newest_first_and_filters_by_org(store: StoreHandle) {
    for (i, org) in [Some("org-a"), Some("org-b"), None, Some("org-a")]
        .into_iter()
        .enumerate()
    {
        let at = NOW + i64::try_from(i).expect("small");
        store
            .append_audit(event(at, "binding.update", org))
            .await
            .expect("append");
    }
    let all = store
        .list_audit(filter(None, None, 10))
        .await
        .expect("list");
    let times: Vec<_> = all.iter().map(|e| e.at).collect();
    assert_eq!(times, [NOW + 3, NOW + 2, NOW + 1, NOW]);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));

    let org_a = store
        .list_audit(filter(Some("org-a"), None, 10))
        .await
        .expect("list");
    let times: Vec<_> = org_a.iter().map(|e| e.at).collect();
    assert_eq!(times, [NOW + 3, NOW]);
    assert!(
        store
            .list_audit(filter(Some("org-z"), None, 10))
            .await
            .expect("list")
            .is_empty()
    );
}

pub(crate) async fn list_audit_pages_with_before_id_and_limit(store: StoreHandle) {
    for i in 0..7 {
        let org = if i % 2 == 0 { "org-a" } else { "org-b" };
        store
            .append_audit(event(NOW + i, "token.issue", Some(org)))
            .await
            .expect("append");
    }
    // Walk org-a's events (times 0, 2, 4, 6) two at a time.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_audit(filter(Some("org-a"), cursor, 2))
            .await
            .expect("page");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        seen.extend(page.iter().map(|e| e.at - NOW));
    }
    assert_eq!(seen, [6, 4, 2, 0]);

    let everything = store
        .list_audit(filter(None, None, 100))
        .await
        .expect("list");
    assert_eq!(everything.len(), 7);
    let below = store
        .list_audit(filter(None, Some(everything[2].id), 100))
        .await
        .expect("list");
    assert_eq!(below, everything[3..].to_vec());
    assert!(
        store
            .list_audit(filter(None, None, 0))
            .await
            .expect("list")
            .is_empty()
    );
}
