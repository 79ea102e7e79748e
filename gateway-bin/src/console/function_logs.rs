//! The last lines each function wrote, for the console: a `tracing` layer that keeps the
//! events of [`LOG_TARGET`] (function processes' stdout and stderr), a few per function.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::{LazyLock, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use gateway_fn_backend::LOG_TARGET;

/// Lines kept per function.
const LINES: usize = 50;
/// Characters kept of one line.
const LINE_CHARS: usize = 500;

/// Function name (`application/function`) to its last lines, oldest first.
static LOGS: LazyLock<Mutex<HashMap<String, VecDeque<String>>>> = LazyLock::new(Mutex::default);

/// The last lines function `name` wrote.
pub(crate) fn lines(name: &str) -> Vec<String> {
    let logs = LOGS.lock().unwrap_or_else(|e| e.into_inner());
    logs.get(name)
        .map(|lines| lines.iter().cloned().collect())
        .unwrap_or_default()
}

/// Keeps function output for [`lines`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FunctionLogs;

impl<S: Subscriber> Layer<S> for FunctionLogs {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != LOG_TARGET {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let Some(function) = line.function else {
            return;
        };
        let text: String = line.message.chars().take(LINE_CHARS).collect();
        let mut logs = LOGS.lock().unwrap_or_else(|e| e.into_inner());
        let lines = logs.entry(function).or_default();
        if lines.len() == LINES {
            lines.pop_front();
        }
        lines.push_back(text);
    }
}

#[derive(Default)]
struct Line {
    function: Option<String>,
    message: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "function" => self.function = Some(format!("{value:?}")),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "function" => self.function = Some(value.to_owned()),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }
}
