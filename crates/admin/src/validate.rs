//! `POST /v1/bindings/{org_id}/validate`: does the binding work end to end?
//!
//! Three checks, each reported even when an earlier one failed: the stored key decrypts, an
//! active signing key is loaded, the upstream accepts the key (one probe request). A check
//! `detail` never contains the key. A store outage answers 503 rather than `valid: false`:
//! it says nothing about the binding.

use auth::Credential;
use axum::extract::State;
use serde::Serialize;
use store::StoreError;

use crate::bindings;
use crate::error::{AdminError, Resource};
use crate::extract::PathParam;
use crate::probe::ProbeOutcome;
use crate::state::AdminState;
use crate::views::Reply;

#[derive(Debug, Serialize)]
struct Validation {
    valid: bool,
    checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

impl Check {
    fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok,
            detail: detail.into(),
        }
    }
}

/// Runs the checks; `valid` is true only when all pass.
pub(crate) async fn validate(
    State(state): State<AdminState>,
    PathParam(org_id): PathParam<String>,
) -> Result<Reply, AdminError> {
    let binding = bindings::find(&state, &org_id).await?;
    let now = state.now();
    let (decrypts, credential) = decrypt_check(&state, &binding.id, now).await?;
    let signing = signing_check(&state).await?;
    let upstream = match &credential {
        Some(credential) => upstream_check(&state, credential).await,
        None => Check::new(UPSTREAM, false, "skipped: the upstream key is not usable"),
    };
    let checks = vec![decrypts, signing, upstream];
    let valid = checks.iter().all(|check| check.ok);
    Ok(Reply::ok(Validation { valid, checks }))
}

const DECRYPTS: &str = "api_key_decrypts";
const SIGNING: &str = "signing_key_usable";
const UPSTREAM: &str = "upstream_accepts_key";

async fn decrypt_check(
    state: &AdminState,
    binding_id: &str,
    now: i64,
) -> Result<(Check, Option<Credential>), AdminError> {
    let record = match state.store().load_credential(binding_id, now).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(AdminError::NotFound(Resource::Binding)),
        Err(err @ StoreError::Unavailable(_)) => return Err(err.into()),
        Err(err) => {
            tracing::error!(error = %err, binding_id, "stored upstream key is unusable");
            return Ok((Check::new(DECRYPTS, false, err.to_string()), None));
        }
    };
    match Credential::from_store(record) {
        Ok(credential) => Ok((
            Check::new(
                DECRYPTS,
                true,
                "the upstream key decrypts under the master key",
            ),
            Some(credential),
        )),
        Err(err) => Ok((Check::new(DECRYPTS, false, err.to_string()), None)),
    }
}

async fn signing_check(state: &AdminState) -> Result<Check, AdminError> {
    let active = match state.store().active_signing_key().await {
        Ok(active) => active,
        Err(err @ StoreError::Unavailable(_)) => return Err(err.into()),
        Err(err) => return Ok(Check::new(SIGNING, false, err.to_string())),
    };
    let Some(active) = active else {
        return Ok(Check::new(
            SIGNING,
            false,
            "no active signing key; rotate one in",
        ));
    };
    let kid = active.key.kid;
    Ok(
        if state.keyring().active_kid().as_deref() == Some(kid.as_str()) {
            Check::new(SIGNING, true, format!("active key {kid} is loaded"))
        } else {
            Check::new(
                SIGNING,
                false,
                format!("active key {kid} is not the key this process signs with"),
            )
        },
    )
}

async fn upstream_check(state: &AdminState, credential: &Credential) -> Check {
    let probe = state.probe();
    let request = probe.describe();
    match probe.run(credential.upstream_authorization()).await {
        ProbeOutcome::Answered(status) if status.is_success() => Check::new(
            UPSTREAM,
            true,
            format!("{request} answered {}", status.as_u16()),
        ),
        ProbeOutcome::Answered(status) if status.as_u16() == 401 || status.as_u16() == 403 => {
            Check::new(
                UPSTREAM,
                false,
                format!("upstream refused the key ({})", status.as_u16()),
            )
        }
        ProbeOutcome::Answered(status) => Check::new(
            UPSTREAM,
            false,
            format!("{request} answered {}", status.as_u16()),
        ),
        ProbeOutcome::Unreachable => Check::new(
            UPSTREAM,
            false,
            format!("upstream unreachable: {request} failed"),
        ),
        ProbeOutcome::TimedOut => Check::new(
            UPSTREAM,
            false,
            format!(
                "upstream unreachable: {request} got no answer within {} ms",
                probe.timeout().as_millis()
            ),
        ),
    }
}
