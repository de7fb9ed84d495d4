//! Scope names, the rule for whether a granted scope covers a requested one, and the
//! [`ScopeTable`] that says which upstream paths each scope opens.
//!
//! A scope is a service name (`messaging`, `kv`) or a service narrowed to one resource
//! (`kv:<namespace-id>`). A granted service scope covers itself and every narrowing of it;
//! a narrowed scope covers only itself. A path is allowed when some scope whose prefix
//! matches it is covered both by the binding's scopes and by the token's `scp` (when present).
//!
//! Matching is on the raw path after `/v2/`, on whole segments, with one equivalence: a
//! percent-encoded unreserved character (`ALPHA DIGIT - . _ ~`, hex in either case) counts as
//! the character itself (`mess%61ges` is `messages`), because upstream servers normalise it
//! that way. Any other escape (`%2F`, `%20`) is compared as the three bytes it is, so it never
//! matches a prefix. A path no prefix matches is out of scope (default deny). Escapes are read
//! by [`crate::percent`], the module the data plane's target check decodes with too.

use std::collections::BTreeMap;

use crate::Authenticated;
use crate::percent::{is_unreserved, normalized_byte};

/// Longest scope name accepted when minting.
pub(crate) const MAX_SCOPE_LEN: usize = 128;

/// The service whose scope may be narrowed to one namespace (`kv:<namespace-id>`).
pub(crate) const KV: &str = "kv";

/// Every service scope the table knows, in table order. Also the default scopes of a new
/// binding (`account` included, so `GET /v2/balance` works out of the box).
pub const SERVICES: [&str; 8] = [
    "voice",
    "messaging",
    "numbers",
    "fax",
    "verify",
    "kv",
    "speech",
    "account",
];

/// Default prefixes (after `/v2/`) per service, in [`SERVICES`] order.
const DEFAULT_PREFIXES: [(&str, &[&str]); 8] = [
    (
        "voice",
        &[
            "calls",
            "call_control_applications",
            "conferences",
            "queues",
            "recordings",
            "recording_transcriptions",
            "texml",
            "texml_applications",
            "texml_calls",
            "call_events",
            "outbound_voice_profiles",
            "media",
        ],
    ),
    (
        "messaging",
        &[
            "messages",
            "messaging_profiles",
            "short_codes",
            "alphanumeric_sender_ids",
            "messaging_optouts",
            "messaging_hosted_number_orders",
            "messaging_url_domains",
        ],
    ),
    (
        "numbers",
        &[
            "phone_numbers",
            "available_phone_numbers",
            "available_phone_number_blocks",
            "number_orders",
            "number_reservations",
            "number_lookup",
            "porting_orders",
            "portability_checks",
            "regulatory_requirements",
            "requirement_groups",
        ],
    ),
    ("fax", &["faxes", "fax_applications"]),
    (
        "verify",
        &["verifications", "verify_profiles", "verified_numbers"],
    ),
    ("kv", &["storage/kvs"]),
    // The WebSocket sessions (`speech-to-text/transcription`, `text-to-speech/speech`) and
    // their REST siblings.
    ("speech", &["speech-to-text", "text-to-speech"]),
    ("account", &["balance"]),
];

/// Why a scope table could not be built. Each problem names the scope it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeTableError {
    /// The key is not one of [`SERVICES`] (narrowed scopes such as `kv:x` take their prefixes
    /// from their service and cannot be configured).
    #[error("scope {scope} is not a known service scope")]
    UnknownScope {
        /// The configured key.
        scope: String,
    },
    /// A prefix is not a path after `/v2/`: one or more `/`-separated segments of
    /// `A-Z a-z 0-9 - . _ ~`, no `.` or `..` segment, no leading, trailing or double slash.
    #[error("scope {scope}: prefix {index} is not a path of unreserved characters")]
    InvalidPrefix {
        /// The scope whose list holds the prefix.
        scope: String,
        /// Position of the prefix in the list, from 0.
        index: usize,
    },
}

/// One service scope and the upstream path prefixes (after `/v2/`) it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Service {
    name: &'static str,
    prefixes: Vec<String>,
    /// The first bytes of `prefixes`, one bit each: a path whose first byte is not among them
    /// skips the service without looking at its prefixes.
    first_bytes: [u64; 4],
}

impl Service {
    fn new(name: &'static str, prefixes: Vec<String>) -> Self {
        let mut first_bytes = [0_u64; 4];
        for first in prefixes.iter().filter_map(|p| p.as_bytes().first()) {
            first_bytes[usize::from(first >> 6)] |= 1 << (first & 63);
        }
        Self {
            name,
            prefixes,
            first_bytes,
        }
    }

    fn may_start_with(&self, byte: u8) -> bool {
        self.first_bytes[usize::from(byte >> 6)] & (1 << (byte & 63)) != 0
    }
}

/// Which upstream paths each service scope opens; built once at start-up, read per request
/// without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeTable {
    services: Vec<Service>,
}

impl Default for ScopeTable {
    fn default() -> Self {
        Self::defaults()
    }
}

impl ScopeTable {
    /// The built-in table for the Telnyx v2 API (see `docs/scopes.md`).
    pub fn defaults() -> Self {
        let services = DEFAULT_PREFIXES
            .iter()
            .map(|(name, prefixes)| {
                Service::new(name, prefixes.iter().map(|p| (*p).to_owned()).collect())
            })
            .collect();
        Self { services }
    }

    /// The default table with the prefix list of every scope named in `map` replaced by the
    /// given one. An empty list makes the scope open nothing.
    ///
    /// # Errors
    /// Every problem found, each naming its scope: [`ScopeTableError::UnknownScope`] for a key
    /// that is not in [`SERVICES`], [`ScopeTableError::InvalidPrefix`] for a malformed prefix.
    pub fn from_map(map: BTreeMap<String, Vec<String>>) -> Result<Self, Vec<ScopeTableError>> {
        let mut table = Self::defaults();
        let mut problems = Vec::new();
        for (scope, prefixes) in map {
            let Some(service) = table.services.iter_mut().find(|s| s.name == scope) else {
                problems.push(ScopeTableError::UnknownScope { scope });
                continue;
            };
            let before = problems.len();
            for (index, prefix) in prefixes.iter().enumerate() {
                if !is_valid_prefix(prefix) {
                    problems.push(ScopeTableError::InvalidPrefix {
                        scope: scope.clone(),
                        index,
                    });
                }
            }
            if problems.len() == before {
                *service = Service::new(service.name, prefixes);
            }
        }
        if problems.is_empty() {
            Ok(table)
        } else {
            Err(problems)
        }
    }

    /// The prefixes `service` opens, or `None` for an unknown service.
    pub fn prefixes(&self, service: &str) -> Option<&[String]> {
        self.services
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.prefixes.as_slice())
    }

    /// The first service whose prefixes match `api_path` (the raw path after `/v2/`, without
    /// the query), or `None` when no scope opens it. For error details and logs.
    pub fn service_for(&self, api_path: &str) -> Option<&'static str> {
        self.services
            .iter()
            .find(|s| {
                s.prefixes
                    .iter()
                    .any(|p| strip_path_prefix(api_path, p).is_some())
            })
            .map(|s| s.name)
    }

    /// Whether the effective scope of `authenticated` (binding scopes ∩ token `scp`) opens
    /// `api_path`, the raw path after `/v2/` (a query, if left on, is ignored).
    /// Allocation-free.
    pub fn allows(&self, authenticated: &Authenticated, api_path: &str) -> bool {
        self.allows_scopes(
            &authenticated.credential.scopes,
            authenticated.claims.scp.as_deref(),
            api_path,
        )
    }

    /// [`Self::allows`] on bare scope lists: `binding` is what the binding grants, `token` the
    /// token's `scp` (`None`: the token does not narrow). Allocation-free.
    pub fn allows_scopes(
        &self,
        binding: &[String],
        token: Option<&[String]>,
        api_path: &str,
    ) -> bool {
        // A prefix whose first byte differs from the path's first (escape decoded) cannot
        // match: a service with no such prefix is skipped with one bit test, and within a
        // service such a prefix with one compare instead of a call that fails on that byte.
        let Some(first) = first_path_byte(api_path) else {
            return false;
        };
        self.services.iter().any(|service| {
            service.may_start_with(first)
                && service.prefixes.iter().any(|prefix| {
                    if prefix.as_bytes().first() != Some(&first) {
                        return false;
                    }
                    let Some(rest) = strip_path_prefix(api_path, prefix) else {
                        return false;
                    };
                    // Under `storage/kvs/<id>` a `kv:<id>` scope suffices; the list itself
                    // (`storage/kvs`) needs `kv`.
                    let resource = if service.name == KV {
                        first_segment(rest)
                    } else {
                        None
                    };
                    let granted = |scopes: &[String]| {
                        scopes
                            .iter()
                            .any(|s| covers_path(s, service.name, resource))
                    };
                    granted(binding) && token.is_none_or(granted)
                })
        })
    }
}

/// Whether `granted` covers `requested`: equal, or `granted` is a bare service and
/// `requested` is `granted:<something>`.
pub(crate) fn covers(granted: &str, requested: &str) -> bool {
    if granted == requested {
        return true;
    }
    !granted.contains(':')
        && requested
            .strip_prefix(granted)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|resource| !resource.is_empty())
}

/// Whether any scope in `granted` covers `requested`.
pub(crate) fn is_granted(granted: &[String], requested: &str) -> bool {
    granted.iter().any(|scope| covers(scope, requested))
}

/// Whether `scope` is a well-formed scope name: a non-empty service name of lowercase ASCII
/// letters, digits, `-` or `_`, optionally followed by `:` and a non-empty resource of visible
/// ASCII without `:`, at most [`MAX_SCOPE_LEN`] bytes.
pub(crate) fn is_valid_name(scope: &str) -> bool {
    if scope.is_empty() || scope.len() > MAX_SCOPE_LEN {
        return false;
    }
    let (service, resource) = match scope.split_once(':') {
        Some((service, resource)) => (service, Some(resource)),
        None => (scope, None),
    };
    let service_ok = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    let resource_ok = resource.is_none_or(|resource| {
        !resource.is_empty() && resource.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    });
    service_ok && resource_ok
}

/// If `path` starts with `prefix` on whole segments (unreserved escapes decoded), the rest of
/// `path` after it: empty, or starting with `/` or `?`.
///
/// `messages` matches `messages`, `messages/x`, `messages?x` and `mess%61ges`, not
/// `messages_x` and not `messages%2Fx`. `prefix` must hold no `%` (validated prefixes don't).
/// The data plane's deny-list matches its prefixes with it, so a denied path and a scoped one
/// are read alike.
pub fn strip_path_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let raw = path.as_bytes();
    let mut at = 0;
    for &want in prefix.as_bytes() {
        let (got, len) = normalized_byte(raw, at)?;
        if got != want {
            return None;
        }
        at += len;
    }
    let rest = path.get(at..)?;
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some(rest)
}

/// The first byte of `path` as [`strip_path_prefix`] compares it (a percent-encoded
/// unreserved character decoded): a prefix starting with any other byte cannot match, so a
/// caller trying many prefixes can skip those with one compare.
pub fn first_path_byte(path: &str) -> Option<u8> {
    normalized_byte(path.as_bytes(), 0).map(|(byte, _)| byte)
}

/// Whether `prefix` is a valid prefix: `/`-separated non-empty segments of unreserved
/// characters, none of them `.` or `..`. Configuration checks it at start-up, for the scope
/// table's prefixes and for the data plane's deny-list.
pub fn is_valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(is_unreserved)
        })
}

/// The first segment of `rest` (`""` or `/seg/...` or `?...`), if non-empty.
fn first_segment(rest: &str) -> Option<&str> {
    let after = rest.strip_prefix('/')?;
    let end = after.find(['/', '?']).unwrap_or(after.len());
    after.get(..end).filter(|segment| !segment.is_empty())
}

/// Whether `raw` (a path segment, unreserved escapes decoded) equals `want`.
fn segment_equals(raw: &str, want: &str) -> bool {
    strip_path_prefix(raw, want).is_some_and(str::is_empty)
}

/// Whether a granted scope opens a path that needs `service`, narrowed to the raw path
/// segment `resource` when there is one: the bare service always does; `service:<id>` does
/// when `<id>` equals the segment.
fn covers_path(granted: &str, service: &str, resource: Option<&str>) -> bool {
    if granted == service {
        return true;
    }
    let Some(id) = granted
        .strip_prefix(service)
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        return false;
    };
    resource.is_some_and(|raw| !id.is_empty() && segment_equals(raw, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_scope_covers_its_narrowings_only() {
        assert!(covers("kv", "kv"));
        assert!(covers("kv", "kv:ns-1"));
        assert!(!covers("kv", "kv:"));
        assert!(!covers("kv", "kvx"));
        assert!(!covers("kv", "kvx:ns-1"));
        assert!(!covers("kv:ns-1", "kv"));
        assert!(!covers("kv:ns-1", "kv:ns-2"));
        assert!(covers("kv:ns-1", "kv:ns-1"));
        assert!(!covers("messaging", "voice"));
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("messaging"));
        assert!(is_valid_name("kv:3fa85f64-5717-4562-b3fc-2c963f66afa6"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("KV"));
        assert!(!is_valid_name("kv:"));
        assert!(!is_valid_name(":x"));
        assert!(!is_valid_name("kv:a:b"));
        assert!(!is_valid_name("kv:a b"));
        assert!(!is_valid_name(&"a".repeat(129)));
    }
}
