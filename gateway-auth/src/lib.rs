//! Authentication, authorization and IAM policies for the gateway.

pub mod answer;
pub mod cache;
pub mod custom;
pub mod factory;
pub mod iam;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod shared;
pub mod token;

pub use factory::{AuthOptions, Authenticators};
pub use shared::{AuthorizerCacheConfig, SharedResults};
