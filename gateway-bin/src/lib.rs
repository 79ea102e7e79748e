//! The library half of the `gateway` binary: the parts other crates may use without running
//! the binary. For now that is [`config`], the `gateway.toml` parser (the fuzz targets use it);
//! everything else — CLI, wiring, listeners, reload — stays in the binary.

pub mod config;

pub use config::{Config, ConfigError};
