//! The access log: one JSON line per request (OCI's fields), written off the request path.
//! Without one, a person watching `serve` in a terminal gets a compact line per request there
//! instead.
//!
//! Requests format their line and queue it; one task writes the queue out in batches. When the
//! destination cannot keep up and the queue is full, lines are dropped and counted
//! (`gateway_access_log_dropped_total`) rather than slowing requests down.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::net::SocketAddr;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::warn;

use gateway_core::observe::{AccessEntry, AccessLog, GatewayIdentity};

use crate::config::Destination;

/// Lines waiting to be written before new ones are dropped.
const QUEUE: usize = 16 * 1024;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// OCI's JSON fields, for machines.
    Json,
    /// Method, target, status, duration, route and backend, for a person at a terminal.
    Terminal,
}

/// An [`AccessLog`] that queues lines for a writer task.
#[derive(Debug)]
pub(crate) struct AccessLogWriter {
    lines: mpsc::Sender<String>,
    /// A relaxed atomic shared with the admin listener's registry.
    dropped: Counter,
    identity: GatewayIdentity,
    style: Style,
}

impl AccessLogWriter {
    /// Opens `destination` and starts the writer. When the log is off, stderr is a terminal
    /// and not `quiet`, compact lines go there; otherwise `None`.
    pub(crate) async fn open(
        destination: &Destination,
        identity: GatewayIdentity,
        quiet: bool,
    ) -> std::io::Result<Option<Self>> {
        let mut style = Style::Json;
        let out: Box<dyn AsyncWrite + Send + Unpin> = match destination {
            Destination::Off if !quiet && std::io::stderr().is_terminal() => {
                style = Style::Terminal;
                Box::new(tokio::io::stderr())
            }
            Destination::Off => return Ok(None),
            Destination::Stdout => Box::new(tokio::io::stdout()),
            Destination::Stderr => Box::new(tokio::io::stderr()),
            Destination::File(path) => Box::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|e| {
                        std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?,
            ),
        };
        let (lines, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_lines(queue, out));
        Ok(Some(Self {
            lines,
            dropped: Counter::default(),
            identity,
            style,
        }))
    }

    fn send(&self, line: String) {
        if self.lines.try_send(line).is_err() {
            self.dropped.inc();
        }
    }

    /// Lines dropped because the writer could not keep up (a handle on the same count).
    pub(crate) fn dropped(&self) -> Counter {
        self.dropped.clone()
    }
}

impl AccessLog for AccessLogWriter {
    fn log(&self, entry: &AccessEntry<'_>) {
        let line = match self.style {
            Style::Json => {
                let mut line = entry.to_json();
                line.push('\n');
                line
            }
            Style::Terminal => terminal_line(entry),
        };
        self.send(line);
    }

    /// The line has OCI's fields, empty where no request was read, and the execution-log
    /// code as `message`.
    fn log_refused(&self, remote: SocketAddr, status: u16, code: &str) {
        if self.style == Style::Terminal {
            self.send(format!("- - {status} {code} client={}\n", remote.ip()));
            return;
        }
        let mut line = serde_json::json!({
            "httpMethod": "", "requestUri": "", "serverProtocol": "HTTP/1.1",
            "status": status, "bodyBytesSent": 0, "requestDuration": 0.0,
            "opcRequestId": "", "remoteAddr": remote.ip().to_string(), "deploymentId": "",
            "gatewayId": &*self.identity.id,
            "gatewayDisplayName": &*self.identity.display_name,
            "node": &*self.identity.node,
            "httpUserAgent": "", "httpReferrer": "", "message": code,
        })
        .to_string();
        line.push('\n');
        self.send(line);
    }
}

/// `GET /v1/hello 200 1.2ms route=/v1/hello backend=HTTP_BACKEND backend_time=0.9ms`: the
/// target as the client sent it, the route and backend when one matched.
fn terminal_line(entry: &AccessEntry<'_>) -> String {
    let millis = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut line = format!(
        "{} {} {} {:.1}ms",
        entry.method,
        entry.request_uri.escape_debug(),
        entry.status,
        millis(entry.request_duration)
    );
    match entry.route {
        Some(route) => {
            let _ = write!(
                line,
                " route={} backend={} backend_time={:.1}ms",
                route.path,
                route.backend,
                millis(entry.integration_duration)
            );
        }
        None => line.push_str(" route=-"),
    }
    line.push('\n');
    line
}

/// Writes queued lines, flushing whenever the queue runs dry, until every sender is gone.
async fn write_lines(mut queue: mpsc::Receiver<String>, out: Box<dyn AsyncWrite + Send + Unpin>) {
    let mut out = tokio::io::BufWriter::new(out);
    let mut batch = Vec::with_capacity(64);
    while queue.recv_many(&mut batch, 256).await > 0 {
        for line in batch.drain(..) {
            if let Err(e) = out.write_all(line.as_bytes()).await {
                warn!(error = %e, "cannot write the access log; it stops here");
                return;
            }
        }
        if queue.is_empty() {
            let _ = out.flush().await;
        }
    }
    let _ = out.flush().await;
}
