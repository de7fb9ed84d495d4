//! The audit log: append-only, read newest first with an id cursor.

use super::Connection;
use crate::rows::{AuditRow, audit_columns};
use crate::{AuditEvent, AuditFilter, NewAuditEvent, StoreError};

pub(super) async fn append(
    conn: &mut Connection,
    event: NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    sqlx::query_as::<_, AuditRow>(concat!(
        "INSERT INTO audit_events (at, actor, action, org_id, binding_id, detail_json) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        audit_columns!()
    ))
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.org_id)
    .bind(&event.binding_id)
    .bind(event.detail.to_string())
    .fetch_one(&mut *conn)
    .await?
    .into_event()
}

pub(super) async fn list(
    conn: &mut Connection,
    filter: AuditFilter,
) -> Result<Vec<AuditEvent>, StoreError> {
    sqlx::query_as::<_, AuditRow>(concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_events WHERE ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(&filter.org_id)
    .bind(filter.before_id)
    .bind(i64::from(filter.limit))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(AuditRow::into_event)
    .collect()
}
