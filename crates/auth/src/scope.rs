//! Scope names and the one rule for whether a granted scope covers a requested one.
//!
//! A scope is a service name (`messaging`, `kv`) or a service narrowed to one resource
//! (`kv:<namespace-id>`). A granted service scope covers itself and every narrowing of it;
//! a narrowed scope covers only itself. Which paths a scope opens is the data plane's table.

/// Longest scope name accepted when minting.
pub const MAX_SCOPE_LEN: usize = 128;

/// Whether `granted` covers `requested`: equal, or `granted` is a bare service and
/// `requested` is `granted:<something>`.
pub fn covers(granted: &str, requested: &str) -> bool {
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
pub fn is_granted(granted: &[String], requested: &str) -> bool {
    granted.iter().any(|scope| covers(scope, requested))
}

/// Whether `scope` is a well-formed scope name: a non-empty service name of lowercase ASCII
/// letters, digits, `-` or `_`, optionally followed by `:` and a non-empty resource of visible
/// ASCII without `:`, at most [`MAX_SCOPE_LEN`] bytes.
pub fn is_valid_name(scope: &str) -> bool {
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
