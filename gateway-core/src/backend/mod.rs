//! Backends: what finally answers a routed request.

pub(crate) mod dynamic;
pub(crate) mod function;
pub(crate) mod http;
pub(crate) mod logout;
pub(crate) mod stock;

pub use self::dynamic::{BackendService, Branch, DynamicRouting};
pub use self::http::{
    HostRule, HttpBackendError, HttpBackendService, HttpClient, HttpClientBuilder, HttpClientError,
};
pub use function::FunctionBackend;
pub use logout::OAuth2Logout;
pub use stock::StockResponse;
