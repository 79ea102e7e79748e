//! Authentication, authorization and IAM policies for the gateway.

#![warn(missing_docs)]

mod answer;
mod cache;
mod custom;
mod discovery;
mod factory;
mod fetch;
pub mod iam;
mod introspect;
mod jwks;
mod jwt;
mod keys;
mod login;
mod secrets;
mod shared;
mod token;

pub use custom::CustomAuthenticator;
pub use discovery::{Provider, ProviderMetadata};
pub use factory::{AuthOptions, Authenticators};
pub use introspect::{ClientCredentials, IntrospectionAuthenticator};
pub use jwks::{FetchError, JwksOptions, KeySource, RemoteKeys};
pub use jwt::{ClaimChecks, JwtAuthenticator, Keys};
pub use keys::{KeyError, KeySet, VerifyKey, MAX_JWKS_KEYS};
pub use secrets::{Secret, SecretConfig, SecretError, Secrets};
pub use shared::{AuthorizerCacheConfig, SharedResults};
pub use token::MAX_TOKEN_BYTES;
