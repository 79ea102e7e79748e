//! The listener: accept loop, HTTP/1.1 and HTTP/2 (over TLS when configured), graceful
//! shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use gateway_core::{ClientAddr, ClientCertificate, GatewayService};

use crate::tls::TlsAcceptor;

/// How long a client may take to send the request head before the connection is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// Serves `service` on `listener` (speaking TLS when `tls` is set) until `shutdown` resolves,
/// then stops accepting and lets in-flight requests finish for up to `grace`.
pub(crate) async fn serve(
    listener: TcpListener,
    service: GatewayService,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper enforces no header-read timeout, and a slow client could hold a
    // connection open forever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let (builder, service, watcher) = (builder.clone(), service.clone(), graceful.watcher());
        // TLS: the handshake runs in the connection's own task, so a slow client never holds
        // up the accept loop.
        match tls.clone() {
            None => tokio::spawn(serve_connection(
                builder, stream, service, peer, None, watcher,
            )),
            Some(tls) => tokio::spawn(async move {
                match tls.accept(stream).await {
                    Ok((stream, cert)) => {
                        serve_connection(builder, stream, service, peer, cert, watcher).await;
                    }
                    Err(e) => debug!(%peer, error = %e, "TLS handshake failed"),
                }
            }),
        };
    }

    drop(listener);
    info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => info!("all connections closed"),
        () = tokio::time::sleep(grace) => warn!(?grace, "grace period over; closing remaining connections"),
    }
    Ok(())
}

/// Serves one connection, plain or TLS, until it ends or graceful shutdown closes it; its
/// requests carry the client's address and, when it sent one, its certificate chain.
async fn serve_connection<I>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    io: I,
    service: GatewayService,
    peer: SocketAddr,
    cert: Option<ClientCertificate>,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(peer));
        if let Some(cert) = &cert {
            req.extensions_mut().insert(cert.clone());
        }
        req
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
        .into_owned();
    if let Err(e) = watcher.watch(conn).await {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Registers for SIGINT and SIGTERM now, and returns a future that resolves on either.
///
/// Registering before the listener is announced matters: a signal that arrives before its
/// handler exists would kill the process outright instead of draining it.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("SIGINT received"),
            _ = terminate.recv() => info!("SIGTERM received"),
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            info!("Ctrl-C received");
        }
    })
}
