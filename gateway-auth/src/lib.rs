//! Authentication, authorization and IAM policies for the gateway.

#![warn(missing_docs)]

pub mod answer;
pub mod cache;
pub mod custom;
pub mod discovery;
pub mod factory;
mod fetch;
pub mod iam;
pub mod introspect;
pub mod jwks;
pub mod jwt;
pub mod keys;
mod login;
pub mod secrets;
pub mod shared;
pub mod token;

pub use factory::{AuthOptions, Authenticators};
pub use secrets::{Secret, SecretConfig, SecretError, Secrets};
pub use shared::{AuthorizerCacheConfig, SharedResults};
