//! The execution log (stderr, human text or one JSON object per line with OCI's field names)
//! and the route-level `loggingPolicies` that decide how much of it a request produces.
//!
//! Every request runs inside a `request` span (opened by `gateway-core`'s dispatcher) that
//! carries `opcRequestId`, `deploymentName`, `route` and the route's `executionLogLevel`.
//! [`ExecutionLogPolicy`] drops events below that level, as OCI does for a deployment whose
//! execution log is set to `WARN` or `ERROR`; events outside requests (start-up, reloads,
//! function process output) follow `RUST_LOG` only.

use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::layer::{Context, Layered, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::LogFormat;
use crate::console::FunctionLogs;
use gateway_core::observe::GatewayIdentity;

/// What the formatter sits on: the registry, with the execution log policy before it.
type Policed = Layered<ExecutionLogPolicy, Registry>;

type Formatter = Box<dyn Layer<Policed> + Send + Sync>;

/// Switches the execution log's format once the configuration is known.
pub(crate) struct LogHandle(reload::Handle<Formatter, Policed>);

impl fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogHandle")
    }
}

/// The gateway's identity in JSON log lines, set once from the configuration.
static IDENTITY: OnceLock<GatewayIdentity> = OnceLock::new();

impl LogHandle {
    /// Writes the execution log in `format` from now on, naming the gateway and this replica.
    pub(crate) fn configure(&self, format: LogFormat, identity: &GatewayIdentity) {
        let _ = IDENTITY.set(identity.clone());
        if format == LogFormat::Json {
            let _ = self.0.reload(Box::new(JsonLines) as Formatter);
        }
    }
}

/// Installs the global subscriber: text on stderr until [`LogHandle::configure`] says
/// otherwise, `RUST_LOG` (default `info`, `warn` when `quiet`) as the global filter,
/// `loggingPolicies` per request.
pub(crate) fn init(quiet: bool) -> LogHandle {
    let ansi = colour();
    let text: Formatter = Box::new(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi),
    );
    let (formatter, handle) = reload::Layer::new(text);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(if quiet { "warn" } else { "info" }));
    // The policy sees each new span before the formatter does (layers nearer the registry go
    // first): the formatter then finds the request span's text made already.
    let _ = tracing_subscriber::registry()
        .with(ExecutionLogPolicy { ansi })
        .with(formatter)
        .with(filter)
        .with(FunctionLogs)
        .try_init();
    LogHandle(handle)
}

/// Colour only for a person at a terminal: escape codes are noise in a file, a pipe or a log
/// collector. `NO_COLOR` (any value) turns it off there too.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// What the dispatcher's `request` span says about the request, kept in the span's extensions.
#[derive(Debug, Default)]
struct RequestSpan {
    opc_request_id: String,
    deployment: String,
    route: String,
    /// The least severe level the route's `loggingPolicies` lets through.
    level: Option<Level>,
}

impl RequestSpan {
    /// Keeps what the policy and the JSON log read of one of the span's fields.
    fn keep(&mut self, name: &str, value: &str) {
        match name {
            "opcRequestId" => self.opc_request_id = value.to_owned(),
            "deploymentName" => self.deployment = value.to_owned(),
            "route" => self.route = value.to_owned(),
            "executionLogLevel" => {
                self.level = match value {
                    "INFO" => Some(Level::INFO),
                    "WARN" => Some(Level::WARN),
                    "ERROR" => Some(Level::ERROR),
                    _ => None,
                }
            }
            _ => {}
        }
    }
}

/// Records a request span's fields: what [`RequestSpan`] keeps, and the text log's rendering
/// of all of them in the formatter's own form (`name=value` with `value` as `Debug` shows it,
/// space-separated; the name italic and the `=` dimmed in colour).
struct Recorder {
    span: RequestSpan,
    text: String,
    ansi: bool,
}

impl Recorder {
    /// Starts the rendering of one field: everything up to its value.
    fn name(&mut self, name: &str) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        if self.ansi {
            self.text.push_str("\x1b[3m");
            self.text.push_str(name);
            self.text.push_str("\x1b[0m\x1b[2m=\x1b[0m");
        } else {
            self.text.push_str(name);
            self.text.push('=');
        }
    }
}

impl Visit for Recorder {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field.name());
        // Quoted and escaped as `Debug` does; its character-by-character escaping is only
        // needed for what it changes.
        if value
            .bytes()
            .all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\')
        {
            self.text.push('"');
            self.text.push_str(value);
            self.text.push('"');
        } else {
            let _ = write!(self.text, "{value:?}");
        }
        self.span.keep(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let shown = format!("{value:?}");
        self.name(field.name());
        self.text.push_str(&shown);
        self.span.keep(field.name(), &shown);
    }
}

/// Honours `executionLog.logLevel`: inside a request, events less severe than the route's
/// level are dropped.
///
/// It also renders each request span's fields for the text log, which the formatter then uses
/// instead of rendering them itself: every request opens this span, and the formatter's generic
/// field visitor cost about a quarter of a request's CPU time.
#[derive(Debug)]
struct ExecutionLogPolicy {
    /// Whether the text log is coloured.
    ansi: bool,
}

impl<S> Layer<S> for ExecutionLogPolicy
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "request" {
            return;
        }
        let mut recorder = Recorder {
            span: RequestSpan::default(),
            text: String::with_capacity(128),
            ansi: self.ansi,
        };
        attrs.record(&mut recorder);
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            // The formatter renders a new span's fields only when it has no rendering yet.
            extensions.insert(FormattedFields::<DefaultFields>::new(recorder.text));
            extensions.insert(recorder.span);
        }
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        let Some(scope) = ctx.event_scope(event) else {
            return true;
        };
        for span in scope {
            if let Some(request) = span.extensions().get::<RequestSpan>() {
                // `Level`'s order runs from TRACE (greatest) to ERROR (least).
                return request
                    .level
                    .is_none_or(|min| *event.metadata().level() <= min);
            }
        }
        true
    }
}

/// The JSON execution log.
#[derive(Debug)]
struct JsonLines;

/// Collects an event's fields into a JSON object.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S> Layer<S> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        let mut time = String::new();
        if SystemTime.format_time(&mut Writer::new(&mut time)).is_ok() {
            line.insert("time".into(), Value::from(time));
        }
        line.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str()),
        );
        event.record(&mut JsonFields(&mut line));
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(request) = span.extensions().get::<RequestSpan>() {
                    line.insert(
                        "opcRequestId".into(),
                        Value::from(request.opc_request_id.as_str()),
                    );
                    line.insert(
                        "deploymentId".into(),
                        Value::from(request.deployment.as_str()),
                    );
                    line.insert("route".into(), Value::from(request.route.as_str()));
                    break;
                }
            }
        }
        if let Some(identity) = IDENTITY.get() {
            line.insert("gatewayId".into(), Value::from(&*identity.id));
            line.insert(
                "gatewayDisplayName".into(),
                Value::from(&*identity.display_name),
            );
            line.insert("node".into(), Value::from(&*identity.node));
        }
        line.insert("logger".into(), Value::from(event.metadata().target()));
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // A closed stderr must not take the gateway down.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Buffer {
        type Writer = Buffer;
        fn make_writer(&self) -> Buffer {
            self.clone()
        }
    }

    /// One event inside a request span, as the text log (coloured or not) writes it with the
    /// policy's rendering of the span or with the formatter's own.
    fn logged(with_policy: bool, ansi: bool) -> String {
        let buffer = Buffer::default();
        fn text<S: Subscriber + for<'a> LookupSpan<'a>>(
            buffer: &Buffer,
            ansi: bool,
        ) -> impl Layer<S> {
            tracing_subscriber::fmt::layer()
                .with_writer(buffer.clone())
                .with_ansi(ansi)
                .without_time()
        }
        let emit = || {
            let span = tracing::info_span!(
                "request",
                opcRequestId = "A\"B\\C",
                deploymentName = "d",
                route = "/r/{x}",
                executionLogLevel = Some("WARN"),
            );
            span.in_scope(|| tracing::warn!(code = "c", "failed"));
        };
        if with_policy {
            let subscriber = tracing_subscriber::registry()
                .with(ExecutionLogPolicy { ansi })
                .with(text(&buffer, ansi));
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            tracing::subscriber::with_default(
                tracing_subscriber::registry().with(text(&buffer, ansi)),
                emit,
            );
        }
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn request_spans_read_as_the_formatter_would_write_them() {
        let coloured = logged(true, true);
        assert_eq!(coloured, logged(false, true), "in colour");
        assert!(
            coloured.contains("\x1b[3mopcRequestId\x1b[0m\x1b[2m=\x1b[0m\"A"),
            "{coloured:?}"
        );
        let line = logged(true, false);
        assert_eq!(line, logged(false, false));
        assert!(
            line.contains(
                r#"request{opcRequestId="A\"B\\C" deploymentName="d" route="/r/{x}" executionLogLevel="WARN"}"#
            ),
            "{line}"
        );
    }
}
