//! What the upstream hears of where a request came from (`dataplane.forwarded_headers`).
//!
//! Function code writes its own request headers, so a client's `X-Forwarded-For` is whatever
//! the function wants the upstream to believe. By default the proxy drops the client's
//! forwarding headers and states the address it saw itself.

use http::header::{FORWARDED, HeaderMap, HeaderName, HeaderValue};

use crate::settings::ForwardedHeaders;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// The forwarding headers a client could forge; `X-Forwarded-For` first.
const FORWARDING: [HeaderName; 5] = [
    X_FORWARDED_FOR,
    X_FORWARDED_HOST,
    X_FORWARDED_PROTO,
    FORWARDED,
    X_REAL_IP,
];

/// The client's address as an `X-Forwarded-For` element, built once per connection.
#[derive(Debug, Clone)]
pub struct ClientAddr(HeaderValue);

impl ClientAddr {
    /// The peer's IP address (without the port, as `X-Forwarded-For` carries it).
    pub fn new(peer: std::net::SocketAddr) -> Self {
        Self(
            HeaderValue::from_str(&peer.ip().to_string())
                .expect("an IP address is a valid header value"),
        )
    }
}

/// Applies `mode` to a request's headers, in place. One pass over the names finds which
/// forwarding headers are present (most requests carry none); only those are touched.
pub fn rewrite(headers: &mut HeaderMap, mode: ForwardedHeaders, client: &ClientAddr) {
    let mut present = 0_u8;
    for name in headers.keys() {
        if let Some(index) = FORWARDING.iter().position(|f| f == name) {
            present |= 1 << index;
        }
    }
    match mode {
        ForwardedHeaders::Replace => {
            remove_present(headers, present);
            headers.insert(X_FORWARDED_FOR, client.0.clone());
        }
        ForwardedHeaders::Drop => remove_present(headers, present),
        ForwardedHeaders::Append => append(headers, present, client),
    }
}

fn remove_present(headers: &mut HeaderMap, present: u8) {
    if present == 0 {
        return;
    }
    for (index, name) in FORWARDING.into_iter().enumerate() {
        if present & (1 << index) != 0 {
            headers.remove(name);
        }
    }
}

/// `X-Forwarded-For: <theirs>, <peer>`: the client's list (every field joined, as RFC 9110
/// §5.3 allows) with the peer appended; the other forwarding headers pass as received.
fn append(headers: &mut HeaderMap, present: u8, client: &ClientAddr) {
    // X_FORWARDED_FOR is FORWARDING[0].
    if present & 1 == 0 {
        headers.insert(X_FORWARDED_FOR, client.0.clone());
        return;
    }
    let mut joined: Vec<u8> = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        if !joined.is_empty() {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    joined.extend_from_slice(b", ");
    joined.extend_from_slice(client.0.as_bytes());
    match HeaderValue::from_bytes(&joined) {
        Ok(value) => {
            headers.insert(X_FORWARDED_FOR, value);
        }
        // Every part was a header value and the separator is visible ASCII; unreachable, but
        // a client's header must never panic the proxy: state only what we saw.
        Err(_) => {
            headers.insert(X_FORWARDED_FOR, client.0.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::USER_AGENT;

    use super::*;

    fn forged() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6"));
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("7.7.7.7"));
        headers.insert(X_FORWARDED_HOST, HeaderValue::from_static("evil.example"));
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        headers.insert(FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        headers.insert(X_REAL_IP, HeaderValue::from_static("6.6.6.6"));
        headers.insert(USER_AGENT, HeaderValue::from_static("sdk"));
        headers
    }

    fn client() -> ClientAddr {
        ClientAddr::new("10.1.2.3:40000".parse().expect("addr"))
    }

    #[test]
    fn replace_drops_the_clients_and_states_the_peer() {
        let mut headers = forged();
        rewrite(&mut headers, ForwardedHeaders::Replace, &client());
        assert_eq!(headers.get_all(X_FORWARDED_FOR).iter().count(), 1);
        assert_eq!(headers[X_FORWARDED_FOR], "10.1.2.3");
        for name in [X_FORWARDED_HOST, X_FORWARDED_PROTO, FORWARDED, X_REAL_IP] {
            assert!(!headers.contains_key(&name), "{name}");
        }
        assert_eq!(headers[USER_AGENT], "sdk");
    }

    #[test]
    fn drop_leaves_none() {
        let mut headers = forged();
        rewrite(&mut headers, ForwardedHeaders::Drop, &client());
        for name in FORWARDING {
            assert!(!headers.contains_key(&name), "{name}");
        }
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn append_extends_the_clients_list_and_keeps_the_rest() {
        let mut headers = forged();
        rewrite(&mut headers, ForwardedHeaders::Append, &client());
        assert_eq!(headers.get_all(X_FORWARDED_FOR).iter().count(), 1);
        assert_eq!(headers[X_FORWARDED_FOR], "6.6.6.6, 7.7.7.7, 10.1.2.3");
        assert_eq!(headers[X_FORWARDED_HOST], "evil.example");
        let mut bare = HeaderMap::new();
        rewrite(&mut bare, ForwardedHeaders::Append, &client());
        assert_eq!(bare[X_FORWARDED_FOR], "10.1.2.3");
    }

    #[test]
    fn an_ipv6_peer_is_written_without_brackets_or_port() {
        let mut headers = HeaderMap::new();
        let v6 = ClientAddr::new("[::1]:8080".parse().expect("addr"));
        rewrite(&mut headers, ForwardedHeaders::Replace, &v6);
        assert_eq!(headers[X_FORWARDED_FOR], "::1");
    }
}
