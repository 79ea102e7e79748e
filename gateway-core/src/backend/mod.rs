//! Backends: what finally answers a routed request.

pub mod function;
pub mod stock;

pub use function::FunctionBackend;
pub use stock::StockResponse;
