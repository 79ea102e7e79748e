//! The library half of the `gateway` binary: what other crates may use without running it,
//! which is [`config`], the `gateway.toml` parser (the fuzz targets use it). Everything else
//! (CLI, wiring, listeners, reload) stays in the binary.

pub mod config;

pub use config::{Config, ConfigError};
