//! Backends: what finally answers a routed request.

pub mod dynamic;
pub mod function;
pub mod http;
pub mod logout;
pub mod stock;

pub use self::dynamic::{BackendService, DynamicRouting};
pub use self::http::{HttpBackendService, HttpClient};
pub use function::FunctionBackend;
pub use logout::OAuth2Logout;
pub use stock::StockResponse;
