//! `mutualTls` (reference 4.6): the client certificate a deployment requires, checked per
//! request against the gateway's custom CA bundles. Built with the `mtls` feature (a default
//! one); without it `super::no_mtls` refuses the policy at load.
//!
//! The TLS listener asks every client for a certificate without requiring one, checks only
//! that the client holds the certificate's key, and attaches the presented chain to each
//! request as a [`ClientCertificate`]. Trust is decided here, per deployment, so that a bad
//! certificate gets OCI's `401` rather than a TLS alert, and a deployment without the policy
//! ignores whatever certificate comes.
//!
//! # Semantics
//!
//! * **Verification**: the chain must lead from the leaf to a CA of `[tls] client_ca` (never a
//!   public root) at the current time, through at most two intermediates the client sends
//!   (chain depth 3), and the leaf must allow client authentication (an extended key usage,
//!   when present, must include clientAuth).
//! * **`isVerifiedCertificateRequired: true`**: no certificate, or one that fails
//!   verification → `401`.
//! * **`isVerifiedCertificateRequired: false`** (the default): a request without a
//!   certificate passes, but a certificate that *is* presented must verify, else `401`.
//!   OCI documents only "unverifiable certificate → 401"; letting a failed certificate through
//!   as if none were sent would hand backends an unverified identity claim one header
//!   transformation away, so it is refused.
//! * **`allowedSans`**: when not empty, one of the leaf's DNS, URI or email SANs must match one
//!   entry (see `san::SanPattern`), else `401`. Checked only for a verified certificate.
//! * On success `request.cert[client_base64]` is the standard Base64 of the leaf's DER, unless
//!   that text is larger than 8 KB, when the variable stays empty (as OCI does).
//!
//! Every outcome is logged with a `mutualTls.*` code: `clientCertificateMissing`,
//! `clientCertificateVerificationFailed`, `clientCertificateSanNotAllowed`,
//! `clientCertificateVerified`, `clientCertificateTooLarge`.

mod san;
mod trust;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use http::{Request, Response};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::UnixTime;
use tower::{Layer, Service};

use crate::body::Body;
use crate::context::{ClientCertificate, RequestContext};
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::future::PolicyFuture;
use crate::policy::client_ca::ClientCaBundles;
use crate::spec::MutualTlsDetails;
use san::SanPattern;

/// Largest `request.cert[client_base64]` value, in bytes of Base64 text.
const MAX_CERT_VARIABLE: usize = 8 * 1024;

/// Enforces a deployment's `mutualTls` policy.
#[derive(Debug, Clone)]
pub struct MutualTlsLayer {
    policy: Arc<Policy>,
}

#[derive(Debug)]
struct Policy {
    required: bool,
    allowed_sans: Vec<SanPattern>,
    cas: Arc<ClientCaBundles>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl MutualTlsLayer {
    /// Compiles a `mutualTls` policy; `path` is its JSON path. `None`, with an error, when the
    /// gateway has no CA bundles to verify certificates against.
    pub fn compile(
        details: &MutualTlsDetails,
        cas: &Arc<ClientCaBundles>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<MutualTlsLayer> {
        if cas.is_empty() {
            diags
                .error(
                    path,
                    "mutualTls needs CA bundles to verify client certificates against, and none are loaded",
                )
                .hint("list them in gateway.toml: [tls] client_ca = [\"ca.pem\"]");
            return None;
        }
        Some(MutualTlsLayer {
            policy: Arc::new(Policy {
                required: details.is_verified_certificate_required.unwrap_or(false),
                allowed_sans: details
                    .allowed_sans
                    .iter()
                    .map(|s| SanPattern::new(s))
                    .collect(),
                cas: cas.clone(),
                algorithms: rustls::crypto::aws_lc_rs::default_provider()
                    .signature_verification_algorithms,
            }),
        })
    }
}

impl<S> Layer<S> for MutualTlsLayer {
    type Service = MutualTls<S>;

    fn layer(&self, inner: S) -> MutualTls<S> {
        MutualTls {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service of [`MutualTlsLayer`].
#[derive(Debug, Clone)]
pub struct MutualTls<S> {
    inner: S,
    policy: Arc<Policy>,
}

/// Why a request is refused, with its execution-log code.
struct Refusal {
    code: &'static str,
    reason: String,
}

impl Policy {
    /// Admits the request (returning the leaf's Base64 when a certificate was verified) or
    /// refuses it.
    fn check(&self, cert: Option<&ClientCertificate>) -> Result<Option<String>, Refusal> {
        let Some(cert) = cert else {
            return match self.required {
                true => Err(Refusal {
                    code: "mutualTls.clientCertificateMissing",
                    reason: "no client certificate was presented".to_owned(),
                }),
                false => Ok(None),
            };
        };
        self.cas
            .verify(cert, &self.algorithms, UnixTime::now())
            .map_err(|reason| Refusal {
                code: "mutualTls.clientCertificateVerificationFailed",
                reason,
            })?;
        if !self.allowed_sans.is_empty() {
            let names = san::names(cert.leaf()).map_err(|reason| Refusal {
                code: "mutualTls.clientCertificateVerificationFailed",
                reason,
            })?;
            let allowed = names
                .iter()
                .any(|name| self.allowed_sans.iter().any(|p| p.matches(name)));
            if !allowed {
                return Err(Refusal {
                    code: "mutualTls.clientCertificateSanNotAllowed",
                    reason: format!("no allowed SAN among {names:?}"),
                });
            }
        }
        Ok(Some(
            base64::engine::general_purpose::STANDARD.encode(cert.leaf()),
        ))
    }
}

impl<S> Service<Request<Body>> for MutualTls<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: From<GatewayError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = PolicyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        match self
            .policy
            .check(req.extensions().get::<ClientCertificate>())
        {
            Err(Refusal { code, reason }) => {
                PolicyFuture::refused(GatewayError::ClientCertificate { code, reason })
            }
            Ok(verified) => {
                if let Some(base64) = verified {
                    record(&mut req, base64);
                }
                PolicyFuture::inner(self.inner.call(req))
            }
        }
    }
}

/// Puts the verified certificate into `request.cert[client_base64]`, unless it is too large.
fn record(req: &mut Request<Body>, base64: String) {
    if base64.len() > MAX_CERT_VARIABLE {
        tracing::info!(
            code = "mutualTls.clientCertificateTooLarge",
            size = base64.len(),
            "client certificate verified; too large for request.cert[client_base64]"
        );
        return;
    }
    tracing::debug!(
        code = "mutualTls.clientCertificateVerified",
        "client certificate verified"
    );
    if let Some(ctx) = req.extensions_mut().get_mut::<RequestContext>() {
        ctx.set_client_cert_base64(Arc::from(base64));
    }
}
