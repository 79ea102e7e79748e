//! OCI Functions: calling a function deployed in Oracle Cloud through its signed invoke
//! endpoint, with the same Fn request/response mapping as a local function (fn-protocols §2,
//! §4).
//!
//! - [`signer`]: OCI request signing (draft-cavage, RSA-SHA256), checked byte-for-byte against
//!   vectors made with Oracle's Python SDK.
//! - [`config`]: the OCI config file (`~/.oci/config`), profiles and `[DEFAULT]` inheritance.
//! - [`credentials`]: API keys, session tokens and resource principals as [`Credentials`].
//! - [`client`]: the pooled HTTPS client ([`OciHttpClient`]).
//! - [`invoker`]: [`OciFunction`], the [`gateway_core::function::FunctionInvoker`].
//!
//! Building an invoker from gateway configuration:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use gateway_fn_backend::oci::{Credentials, OciFunction, OciFunctionConfig};
//! let credentials = Credentials::from_config_file(None, Some("DEFAULT"))?;
//! let mut config = OciFunctionConfig::new(
//!     "ocid1.fnfunc.oc1.iad.aaaa",
//!     "app/hello",
//!     "https://abcdefgh123.us-ashburn-1.functions.oci.oraclecloud.com",
//!     credentials,
//! );
//! config.timeout = std::time::Duration::from_secs(30);
//! let function = OciFunction::new(config)?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod config;
pub mod credentials;
pub mod invoker;
pub mod signer;

pub use client::OciHttpClient;
pub use config::{ConfigError, OciConfigFile, OciProfile, DEFAULT_PROFILE};
pub use credentials::{Credentials, CredentialsError, SecretSource};
pub use invoker::{OciFunction, OciFunctionConfig, DEFAULT_API_VERSION};
pub use signer::{KeyError, PrivateKey, RequestSigner, SignError, Signature};

/// Why an [`OciFunction`] or [`OciHttpClient`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("function {function}: invalid invoke_endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        function: String,
        endpoint: String,
        reason: String,
    },
    #[error(
        "function {function}: invalid api_version {api_version:?} (expected letters, digits, \
         `.`, `-`, `_`)"
    )]
    InvalidApiVersion {
        function: String,
        api_version: String,
    },
    #[error(
        "function {function}: invalid function id {function_id:?} (expected an OCID: letters, \
         digits, `.`, `-`, `_`)"
    )]
    InvalidFunctionId {
        function: String,
        function_id: String,
    },
    #[error("extra root certificate #{index} is not usable: {source}")]
    ExtraRoot {
        index: usize,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}
