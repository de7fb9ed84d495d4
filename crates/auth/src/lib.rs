//! Token verification and credential resolution for binding-proxy.
//!
//! Exports the error codes and document shared by both listeners ([`error_document`]), token
//! [`Claims`], the signing [`Keyring`], the [`Verifier`] (verified-token cache), the
//! [`CredentialCache`] (each [`Credential`] with its key's [`KeyPatterns`]), the
//! [`Authenticator`] the data plane calls per request, the token [`Issuer`] the admin API mints
//! with, [`follow_changes`] to keep caches current, and the `[tokens]`, `[cache]` and
//! `[scopes]` settings. [`scope`] matches paths to scopes; [`percent`] reads `%XX` escapes for
//! it and for the data plane's target check, so both agree on what a path means.
//! No SQL and no HTTP serving here: persistence goes through `store::Store`.

mod authenticate;
mod authenticated;
mod claims;
mod credential_cache;
mod error;
pub mod error_document;
mod follow;
mod issue;
mod jose_header;
mod key_patterns;
mod keyring;
mod metrics;
pub mod percent;
pub mod scope;
mod settings;
mod verify;

pub use authenticate::Authenticator;
pub use authenticated::Authenticated;
pub use claims::{Claims, TokenSettings};
pub use credential_cache::{Credential, CredentialCache, Invalidation};
pub use error::AuthError;
pub use error_document::{ErrorCode, ErrorDocument, error_json};
pub use follow::follow_changes;
pub use issue::{IssueError, IssueRequest, IssuedToken, Issuer, MAX_FUNCTION_ID_LEN};
pub use key_patterns::KeyPatterns;
pub use keyring::Keyring;
pub use metrics::AuthMetrics;
pub use settings::{CacheSettings, Prefixes, RawCacheSettings, RawScopes, RawTokenSettings};
/// What the data plane and the admin API need of `store` without depending on it: a binding's
/// rate limit and the error every settings section reports.
pub use store::{RateLimit, SettingsError, SettingsProblem};
pub use verify::{MAX_TOKEN_BYTES, Verifier};
