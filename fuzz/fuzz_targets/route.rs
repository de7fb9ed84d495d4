//! Route parsing and normalisation: `dataplane::__private::Route::parse` on arbitrary targets.
//!
//! Input: one selector byte, then the target. The selector picks the prefix
//! (`fuzz_support::PREFIXES`) and, when its high bit is set, prepends the prefix to the target
//! so most inputs get past the prefix match and exercise the checks behind it.
//! Checks: no panic on any string, and every accepted route satisfies
//! `fuzz_support::check_route` for targets the data plane can receive: hyper parses the
//! request target with `http`, and the router gets `uri.path_and_query().as_str()` (no spaces,
//! controls or non-ASCII; a `#` fragment already dropped).

#![no_main]

use dataplane::__private::Route;
use fuzz_support::{PREFIXES, check_route};
use http::uri::PathAndQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Targets reach the router as `&str` (hyper parsed them); invalid UTF-8 cannot arrive.
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let prefix = PREFIXES[usize::from(selector) % PREFIXES.len()];
    let target = if selector & 0x80 == 0 {
        rest.to_owned()
    } else {
        format!("{prefix}{rest}")
    };
    // Any string: refused or routed, never a panic.
    let _ = Route::parse(prefix, &target);
    if let Ok(received) = PathAndQuery::try_from(target.as_str()) {
        check_route(prefix, received.as_str());
    }
});
