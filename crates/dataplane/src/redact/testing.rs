//! A credential for the unit tests of this module, as the credential cache builds it.

use std::sync::Arc;

use auth::Credential;
use store::{Binding, BindingCredential, Secret};

/// The credential of a binding of `org-1` whose upstream key is `key`.
pub(super) fn credential(key: &str) -> Arc<Credential> {
    let record = BindingCredential {
        binding: Binding {
            id: "b-1".to_owned(),
            org_id: "org-1".to_owned(),
            generation: 1,
            scopes: Vec::new(),
            rate_limit: None,
            api_key_hint: String::new(),
            previous_generation: None,
            previous_generation_expires_at: None,
            created_at: 0,
            updated_at: 0,
        },
        api_key: Secret::from(key.to_owned()),
        revoked_jtis: Vec::new(),
    };
    Arc::new(Credential::from_store(record).expect("a key that is a header value"))
}
