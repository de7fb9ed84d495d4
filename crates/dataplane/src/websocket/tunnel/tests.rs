use std::future::poll_fn;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::*;

/// A tunnel between two in-memory pipes, and the far ends of them.
fn tunnel() -> (
    Tunnel<DuplexStream, DuplexStream>,
    DuplexStream,
    DuplexStream,
) {
    let (client, client_end) = duplex(1 << 20);
    let (upstream, upstream_end) = duplex(1 << 20);
    let tunnel = Tunnel::new(client, upstream, Counter::default(), Counter::default());
    (tunnel, client_end, upstream_end)
}

/// Polls the tunnel once (it is never ready here while both ends are open).
async fn turn(tunnel: &mut Tunnel<DuplexStream, DuplexStream>) -> Poll<io::Result<()>> {
    poll_fn(|cx| Poll::Ready(tunnel.poll_transfer(cx))).await
}

/// A masked binary frame of `len` bytes, as a client sends it.
fn client_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 126];
    frame.extend_from_slice(&u16::try_from(len).expect("small").to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend(std::iter::repeat_n(0x5a, len));
    frame
}

#[tokio::test]
async fn a_close_waits_for_the_frame_in_flight_and_goes_between_frames() {
    let (mut tunnel, mut client, mut upstream) = tunnel();
    let frame = client_frame(1000);
    client.write_all(&frame[..300]).await.expect("write");
    assert!(turn(&mut tunnel).await.is_pending());
    tunnel.close(CloseCode::PolicyViolation, "token_revoked");
    // The rest of the frame, and a next frame that must not pass.
    client.write_all(&frame[300..]).await.expect("write");
    client.write_all(&client_frame(10)).await.expect("write");
    assert!(turn(&mut tunnel).await.is_pending());

    let mut got = vec![0u8; frame.len()];
    upstream
        .read_exact(&mut got)
        .await
        .expect("the whole frame");
    assert_eq!(got, frame);
    let mut close = [0u8; 6 + 2 + 13];
    upstream.read_exact(&mut close).await.expect("a Close");
    assert_eq!(close[0], 0x88);
    assert_eq!(close[1], 0x80 | 15, "masked, 15 bytes of payload");
    let key = [close[2], close[3], close[4], close[5]];
    let payload: Vec<u8> = close[6..]
        .iter()
        .zip(key.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect();
    assert_eq!(&payload[..2], &1008u16.to_be_bytes());
    assert_eq!(&payload[2..], b"token_revoked");

    // The client got an unmasked Close too.
    let mut close = [0u8; 2 + 2 + 13];
    client.read_exact(&mut close).await.expect("a Close");
    assert_eq!(&close[..4], &[0x88, 15, 0x03, 0xf0]);

    // Both peers answer with their Close; the tunnel is over.
    client
        .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xf0])
        .await
        .expect("client close");
    upstream
        .write_all(&[0x88, 0x02, 0x03, 0xf0])
        .await
        .expect("upstream close");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), &mut tunnel).await;
    assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
    assert_eq!(tunnel.bytes().0, frame.len() as u64);
}

#[tokio::test]
async fn no_close_follows_a_close_that_has_passed() {
    let (mut tunnel, mut client, mut upstream) = tunnel();
    // The client closes; the proxy then ends the session before the upstream answers.
    let close = [0x88u8, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
    client.write_all(&close).await.expect("client close");
    assert!(turn(&mut tunnel).await.is_pending());
    tunnel.close(CloseCode::GoingAway, "going_away");
    assert!(turn(&mut tunnel).await.is_pending());
    // The upstream gets the client's Close and then the end of the stream, nothing else.
    let mut got = Vec::new();
    upstream.read_to_end(&mut got).await.expect("read");
    assert_eq!(got, close);
    // The client, whose Close is unanswered, gets the proxy's.
    let mut answer = [0u8; 2 + 2 + 10];
    client.read_exact(&mut answer).await.expect("a Close");
    assert_eq!(&answer[..4], &[0x88, 12, 0x03, 0xe9]);
}

#[tokio::test]
async fn a_peer_that_ends_its_stream_ends_the_session_both_ways() {
    let (mut tunnel, mut client, mut upstream) = tunnel();
    upstream.write_all(b"\x81\x02hi").await.expect("write");
    drop(upstream.shutdown().await);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut got = Vec::new();
        let (relay, read) = tokio::join!(
            async {
                // The client's own end stays open until it reads the upstream's end.
                poll_fn(|cx| tunnel.poll_transfer(cx)).await
            },
            async {
                client.read_to_end(&mut got).await.expect("read");
                drop(client.shutdown().await);
                got
            }
        );
        (relay, read)
    })
    .await
    .expect("in time");
    assert!(ended.0.is_ok());
    assert_eq!(ended.1, b"\x81\x02hi");
    assert_eq!(tunnel.ended_by(), Some(Side::Upstream));
}
