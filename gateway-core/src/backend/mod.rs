//! Backends: what finally answers a routed request.

pub mod stock;

pub use stock::StockResponse;
