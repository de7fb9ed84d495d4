//! Connection slots through the real binary: sockets that never send a byte cannot lock
//! valid clients out (issue #16).

use std::time::Duration;

use http::{Method, StatusCode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::Stack;

const KEY: &str = "KEY10SLOTS_real_upstream_key";

/// A safety net so a broken test fails instead of hanging; never the thing asserted. Below
/// the 60 s idle timeout that used to free the slots.
const SAFETY: Duration = Duration::from_secs(30);

#[tokio::test]
async fn silent_sockets_in_every_slot_do_not_lock_a_valid_client_out() {
    let stack = Stack::start_with(KEY, |options| {
        options
            .set("dataplane.max_connections", "20")
            .set("dataplane.header_read_timeout_ms", "300")
    })
    .await;
    stack.proxy.create_binding("org-slots", KEY).await;
    let token = stack.proxy.token("org-slots").await;
    // Accepted in arrival order: these take all twenty slots before the client below.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(stack.proxy.dataplane).await.unwrap());
    }

    let reply = tokio::time::timeout(
        SAFETY,
        stack.http.get_with_token(&stack.url("/v2/balance"), &token),
    )
    .await
    .expect("the valid client was answered");
    assert_eq!(reply.status, StatusCode::OK);
    for stream in &mut silent {
        let mut buf = [0_u8; 64];
        let read = tokio::time::timeout(SAFETY, stream.read(&mut buf))
            .await
            .expect("the server closed the silent socket");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // Each close is counted before its socket is closed.
    let metrics = stack
        .http
        .send(
            Method::GET,
            &format!("{}/metrics", stack.proxy.admin_url()),
            &[],
            "",
        )
        .await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(
            "binding_proxy_client_connections_closed_total{reason=\"first_request_timeout\"} 20\n"
        ),
        "{text}"
    );
}
