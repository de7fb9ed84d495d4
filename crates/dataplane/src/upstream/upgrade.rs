//! A WebSocket session's upstream connection: one of its own, never pooled and never HTTP/2
//! (its TLS handshake offers no ALPN, so no `h2`: a TLS server speaks HTTP/1.1 then), on
//! which the handshake is sent as an HTTP/1.1 upgrade. A `101` hands the connection over to
//! the session; any other answer is relayed like a response, and the connection closes once
//! its body has been read.

use bytes::Bytes;
use http::header::HOST;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper::upgrade::OnUpgrade;

use super::body::UpstreamBody;
use super::exchange::UpstreamClient;
use super::pool::Pool;
use crate::error::UpstreamError;
use crate::metrics::ConnectionCounters;

/// The upstream's answer to a WebSocket handshake.
pub(crate) enum Upgrade {
    /// `101 Switching Protocols`: the answer's head, and the connection, which hyper hands over
    /// once it has read the head.
    Switched {
        head: http::response::Parts,
        connection: OnUpgrade,
    },
    /// Any other answer, relayed as a response.
    Answered(Box<Response<UpstreamBody>>),
}

impl UpstreamClient {
    /// Opens a connection for one WebSocket session and sends `request` on it (origin-form
    /// target, upstream headers set except `Host`, the `Upgrade` and `Connection` headers
    /// included), waiting for the answer's head within the response timeout. The connection is
    /// counted in `opened`.
    ///
    /// # Errors
    /// [`UpstreamError::Unavailable`] when no connection could be made,
    /// [`UpstreamError::Timeout`] when the head did not arrive in time,
    /// [`UpstreamError::Failed`] when the exchange failed.
    pub(crate) async fn upgrade(
        &self,
        mut request: Request<Empty<Bytes>>,
        opened: &ConnectionCounters,
    ) -> Result<Upgrade, UpstreamError> {
        let pool = &self.pool;
        let mut sender = tokio::time::timeout(pool.connect_timeout, open_http1(pool))
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Unavailable(
                    "connecting to the upstream timed out".into(),
                ))
            })?;
        opened.opened(false);
        request.headers_mut().insert(HOST, pool.host.clone());
        let mut response =
            tokio::time::timeout(self.response_timeout, sender.send_request(request))
                .await
                .map_err(|_| UpstreamError::Timeout)?
                .map_err(UpstreamError::Failed)?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let connection = hyper::upgrade::on(&mut response);
            let (head, _empty) = response.into_parts();
            return Ok(Upgrade::Switched { head, connection });
        }
        // The sender goes with this function: hyper closes the connection after this answer.
        Ok(Upgrade::Answered(Box::new(
            response.map(|incoming| UpstreamBody::new(incoming, None, pool)),
        )))
    }
}

/// A fresh HTTP/1.1 connection whose driver runs on the pool's tasks (it ends when it hands
/// the connection over, or when the connection closes), ready for one request.
async fn open_http1(pool: &Pool) -> Result<http1::SendRequest<Empty<Bytes>>, UpstreamError> {
    let io = pool.dial(&pool.http1_connector).await?;
    let (mut sender, connection) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|err| UpstreamError::Unavailable(err.into()))?;
    pool.tasks.spawn(async move {
        if let Err(err) = connection.with_upgrades().await {
            tracing::debug!(error = %err, "upstream WebSocket handshake connection ended");
        }
    });
    sender
        .ready()
        .await
        .map_err(|err| UpstreamError::Unavailable(err.into()))?;
    Ok(sender)
}
