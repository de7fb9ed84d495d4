//! The audit trail: recording every mutation, and `GET /v1/audit-events`.

use axum::extract::State;
use serde_json::Value;
use store::{AuditFilter, Binding, NewAuditEvent};

use crate::admin_token::Actor;
use crate::error::{AdminError, InvalidInput};
use crate::extract::QueryParams;
use crate::input::AuditQuery;
use crate::page;
use crate::state::AdminState;
use crate::views::{AuditEventView, PageMeta, Reply};

/// What was done; the `action` of an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    BindingCreate,
    BindingUpdate,
    BindingRotate,
    BindingDelete,
    TokenIssue,
    TokenRevoke,
    SigningKeyRotate,
    SigningKeyRetire,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::BindingCreate => "binding.create",
            Self::BindingUpdate => "binding.update",
            Self::BindingRotate => "binding.rotate",
            Self::BindingDelete => "binding.delete",
            Self::TokenIssue => "token.issue",
            Self::TokenRevoke => "token.revoke",
            Self::SigningKeyRotate => "signing_key.rotate",
            Self::SigningKeyRetire => "signing_key.retire",
        }
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// A binding (its org and id are recorded).
    Binding(&'a Binding),
    /// A binding known by ids only (a revoked token's).
    Ids {
        org_id: &'a str,
        binding_id: &'a str,
    },
    /// Not about one organization (signing keys).
    Global,
}

/// Appends an audit event. `detail` must never hold a key or a token.
///
/// Runs after the change is committed, so a failure here cannot undo it: it is logged at
/// ERROR (the trail has a gap an operator must know about) and the request still succeeds.
pub(crate) async fn record(
    state: &AdminState,
    actor: &Actor,
    action: Action,
    subject: Subject<'_>,
    detail: Value,
    now: i64,
) {
    let (org_id, binding_id) = match subject {
        Subject::Binding(binding) => (Some(binding.org_id.clone()), Some(binding.id.clone())),
        Subject::Ids { org_id, binding_id } => {
            (Some(org_id.to_owned()), Some(binding_id.to_owned()))
        }
        Subject::Global => (None, None),
    };
    let event = NewAuditEvent {
        at: now,
        actor: actor.as_str().to_owned(),
        action: action.as_str().to_owned(),
        org_id,
        binding_id,
        detail,
    };
    if let Err(err) = state.store().append_audit(event).await {
        tracing::error!(error = %err, action = action.as_str(), "audit event not recorded");
    }
}

/// `GET /v1/audit-events?org_id=&limit=&cursor=`: newest first.
pub(crate) async fn list(
    State(state): State<AdminState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Reply, AdminError> {
    let limit = page::limit(query.limit)?;
    let before_id = query
        .cursor
        .as_deref()
        .map(|cursor| {
            page::decode_cursor(cursor)?
                .parse::<i64>()
                .map_err(|_| InvalidInput::Cursor)
        })
        .transpose()?;
    let events = state
        .store()
        .list_audit(AuditFilter {
            org_id: query.org_id,
            before_id,
            limit: limit.saturating_add(1),
        })
        .await?;
    let (events, has_more) = page::split_page(events, limit);
    let cursor = has_more
        .then(|| {
            events
                .last()
                .map(|event| page::encode_cursor(&event.id.to_string()))
        })
        .flatten();
    let views = events.iter().map(AuditEventView::from).collect();
    Ok(Reply::page(views, PageMeta { has_more, cursor }))
}
