//! [`Authenticators`]: the [`AuthenticatorFactory`] the gateway builder receives.

use std::sync::Arc;
use std::time::Duration;

use gateway_core::auth::{Authenticator, AuthenticatorFactory};
use gateway_core::diagnostics::{did_you_mean, Diagnostics, Kind};
use gateway_core::function::FunctionRegistry;
use gateway_core::spec::{
    AdditionalValidationPolicy, Authentication, ClientAppDetails, CustomAuthentication,
    CustomClientAppDetails, JsonWebTokenClaim, JwtAuthentication,
    OAuth2ResponseValidationFailurePolicy, PublicKeySet, RemoteDiscoveryValidationPolicy,
    SourceUriDetails, StaticKey, TokenAuthentication, TokenValidationPolicy,
    ValidationFailurePolicy,
};

use crate::custom::{Caches, CustomAuthenticator};
use crate::discovery::Provider;
use crate::introspect::{ClientCredentials, IntrospectionAuthenticator};
use crate::jwks::{JwksOptions, KeySource, RemoteKeys};
use crate::jwt::{ClaimChecks, JwtAuthenticator, Keys};
use crate::keys::{KeySet, VerifyKey};
use crate::login::{LoginAuthenticator, LoginSettings};
use crate::secrets::Secrets;
use crate::shared::SharedResults;
use crate::token::TokenLocation;

/// Settings shared by every authenticator built.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Most results an authorizer function's cache holds.
    pub cache_capacity: usize,
    /// Remote key sets.
    pub jwks: JwksOptions,
    /// Authorizer results shared with other replicas; `None`: each replica keeps its own.
    pub shared_results: Option<SharedResults>,
    /// What OCI keeps in Vault: client secrets named by `clientSecretId`.
    pub secrets: Secrets,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            cache_capacity: 10_000,
            jwks: JwksOptions::default(),
            shared_results: None,
            secrets: Secrets::default(),
        }
    }
}

/// Builds authenticators for authentication policies: authorizer functions (the gateway's
/// own, as it registered them), JWTs with static or remote keys, token introspection and the
/// OpenID Connect login.
#[derive(Debug, Clone, Default)]
pub struct Authenticators {
    options: AuthOptions,
}

/// `maxCacheDurationInHours` when absent: the documented default of REMOTE_DISCOVERY, also
/// used for REMOTE_JWKS, which documents none.
const DEFAULT_CACHE_HOURS: u32 = 1;

impl Authenticators {
    /// Authenticators with the default [`AuthOptions`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Authenticators with `options` (caches, key fetching, secrets, shared results).
    pub fn with_options(mut self, options: AuthOptions) -> Self {
        self.options = options;
        self
    }

    fn custom(
        &self,
        policy: &CustomAuthentication,
        functions: &FunctionRegistry,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Arc<dyn Authenticator>> {
        let Some(function) = functions.get(&policy.function_id) else {
            let known: Vec<&str> = functions.ids().collect();
            let hint = match did_you_mean(&policy.function_id, known.iter().copied()) {
                Some(near) => format!("did you mean {near}? known functions: {}", known.join(", ")),
                None if known.is_empty() => "no functions are configured".to_owned(),
                None => format!("known functions: {}", known.join(", ")),
            };
            diags
                .error(
                    format!("{path}.functionId"),
                    format!("unknown authorizer functionId {:?}", policy.function_id),
                )
                .hint(hint);
            return None;
        };
        if let Some(reason) = &function.denied {
            diags
                .warning(
                    Kind::Permission,
                    format!("{path}.functionId"),
                    format!(
                        "the gateway may not invoke the authorizer {}: {reason}; requests with credentials get 500",
                        function.name
                    ),
                )
                .hint(format!("`gateway explain --function {}` shows why", function.id));
        }
        let caches = Caches {
            capacity: self.options.cache_capacity,
            shared: self.options.shared_results.clone(),
        };
        if let Some(parameters) = &policy.parameters {
            return match CustomAuthenticator::multi(
                function.clone(),
                parameters,
                &policy.cache_key,
                caches,
            ) {
                Ok(a) => Some(Arc::new(a)),
                Err((name, message)) => {
                    diags.error(format!("{path}.parameters.{name}"), message);
                    None
                }
            };
        }
        match Authentication::Custom(policy.clone()).token_source() {
            Some(source) => match TokenLocation::new(source, None) {
                Some(location) => Some(Arc::new(CustomAuthenticator::single(
                    function.clone(),
                    location,
                    caches,
                ))),
                None => {
                    diags.error(format!("{path}.tokenHeader"), "not a header name");
                    None
                }
            },
            None => {
                diags
                    .error(
                        path,
                        "the authorizer function has no input: neither tokenHeader, tokenQueryParam nor parameters",
                    )
                    .hint("add tokenHeader (e.g. \"Authorization\") or parameters");
                None
            }
        }
    }

    fn jwt(
        &self,
        policy: &JwtAuthentication,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Arc<dyn Authenticator>> {
        let location = token_location(&Authentication::Jwt(policy.clone()), path, diags);
        let keys = match &policy.public_keys {
            PublicKeySet::StaticKeys(set) => {
                static_keys(&set.keys, &format!("{path}.publicKeys.keys"), diags)
            }
            PublicKeySet::RemoteJwks(remote) => self.remote(
                KeySource::Jwks(remote.uri.clone()),
                remote.max_cache_duration_in_hours,
                remote.is_ssl_verify_disabled,
                &format!("{path}.publicKeys"),
                diags,
            ),
        };
        let checks = checks(
            &policy.issuers,
            &policy.audiences,
            &policy.verify_claims,
            policy.max_clock_skew_in_seconds,
        );
        Some(Arc::new(JwtAuthenticator::new(location?, keys?, checks)))
    }

    fn token(
        &self,
        policy: &TokenAuthentication,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Arc<dyn Authenticator>> {
        let location = token_location(&Authentication::Token(policy.clone()), path, diags);
        let vpath = format!("{path}.validationPolicy");
        let mut provider = None;
        let keys = match &policy.validation_policy {
            TokenValidationPolicy::StaticKeys(p) => {
                static_keys(&p.keys, &format!("{vpath}.keys"), diags)
            }
            TokenValidationPolicy::RemoteJwks(p) => self.remote(
                KeySource::Jwks(p.uri.clone()),
                p.max_cache_duration_in_hours,
                p.is_ssl_verify_disabled,
                &vpath,
                diags,
            ),
            TokenValidationPolicy::RemoteDiscovery(p) => match &p.source_uri_details {
                SourceUriDetails::DiscoveryUri(d) => {
                    provider = self.provider(
                        &d.uri,
                        p.max_cache_duration_in_hours,
                        p.is_ssl_verify_disabled,
                        &vpath,
                        diags,
                    );
                    provider.clone().and_then(|provider| {
                        self.remote(
                            KeySource::Discovery(provider),
                            p.max_cache_duration_in_hours,
                            p.is_ssl_verify_disabled,
                            &vpath,
                            diags,
                        )
                    })
                }
                SourceUriDetails::ValidationBlock => {
                    diags.error(
                        format!("{vpath}.sourceUriDetails"),
                        "a validation policy needs a DISCOVERY_URI",
                    );
                    None
                }
            },
        };
        let additional = policy.validation_policy.additional_validation_policy();
        let empty = AdditionalValidationPolicy {
            issuers: Vec::new(),
            audiences: Vec::new(),
            verify_claims: Vec::new(),
        };
        let additional = additional.unwrap_or(&empty);
        let checks = checks(
            &additional.issuers,
            &additional.audiences,
            &additional.verify_claims,
            policy.max_clock_skew_in_seconds,
        );
        let login = match &policy.validation_failure_policy {
            Some(ValidationFailurePolicy::OAuth2(login)) => Some(login),
            _ => None,
        };
        let TokenValidationPolicy::RemoteDiscovery(discovery) = &policy.validation_policy else {
            if login.is_some() {
                diags.error(
                    format!("{path}.validationFailurePolicy"),
                    "an OAUTH2 validation failure policy needs a REMOTE_DISCOVERY validation policy",
                );
                return None;
            }
            return Some(Arc::new(JwtAuthenticator::new(location?, keys?, checks)));
        };
        let location = location?;
        let provider = provider?;
        let jwt = JwtAuthenticator::new(location.clone(), keys?, checks.clone());
        let (tokens, introspection) = self.introspection(
            discovery,
            provider.clone(),
            location.clone(),
            checks.clone(),
            jwt,
            &vpath,
            diags,
        );
        let Some(login) = login else {
            return Some(tokens);
        };
        let settings = self.login_settings(
            login,
            discovery,
            provider,
            location.clone(),
            checks.leeway,
            introspection,
            &format!("{path}.validationFailurePolicy"),
            diags,
        )?;
        Some(Arc::new(LoginAuthenticator::new(
            location, tokens, settings,
        )))
    }

    /// An `OAUTH2` failure policy's login flow; `VALIDATION_BLOCK` client and source reuse the
    /// validation policy's.
    #[allow(clippy::too_many_arguments)]
    fn login_settings(
        &self,
        login: &OAuth2ResponseValidationFailurePolicy,
        validation: &RemoteDiscoveryValidationPolicy,
        validation_provider: Arc<Provider>,
        location: TokenLocation,
        leeway: u64,
        introspection: Option<Arc<IntrospectionAuthenticator>>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<LoginSettings> {
        let provider = match &login.source_uri_details {
            SourceUriDetails::DiscoveryUri(d) => self.provider(
                &d.uri,
                validation.max_cache_duration_in_hours,
                validation.is_ssl_verify_disabled,
                &format!("{path}.sourceUriDetails"),
                diags,
            )?,
            SourceUriDetails::ValidationBlock => validation_provider,
        };
        let client = match (&login.client_details, &validation.client_details) {
            (ClientAppDetails::Custom(c), _) => {
                self.client(c, &format!("{path}.clientDetails"), diags)
            }
            // A missing secret is already reported at the validation policy.
            (ClientAppDetails::ValidationBlock, ClientAppDetails::Custom(c)) => {
                self.client(c, path, &mut Diagnostics::default())
            }
            (ClientAppDetails::ValidationBlock, ClientAppDetails::ValidationBlock) => {
                diags
                    .error(
                        format!("{path}.clientDetails"),
                        "VALIDATION_BLOCK names no client: the validation policy has none either",
                    )
                    .hint("give the login its own CUSTOM client (clientId, clientSecretId)");
                return None;
            }
        };
        let keys = self.remote(
            KeySource::Discovery(provider.clone()),
            validation.max_cache_duration_in_hours,
            validation.is_ssl_verify_disabled,
            path,
            diags,
        )?;
        let id_token_checks = ClaimChecks {
            audiences: vec![client.id.clone()],
            leeway,
            ..ClaimChecks::default()
        };
        let hours = login.max_expiry_duration_in_hours.unwrap_or(1).max(1);
        Some(LoginSettings {
            provider,
            client_id: client.id,
            secret: client.secret,
            scopes: login.scopes.join(" "),
            use_pkce: login.use_pkce.unwrap_or(false),
            cookie_sessions: login.use_cookies_for_session.unwrap_or(true),
            cookie_steps: login.use_cookies_for_intermediate_steps.unwrap_or(true),
            max_session: Duration::from_secs(u64::from(hours) * 3600),
            fallback_redirect_path: login.fallback_redirect_path.clone(),
            logout_path: login.logout_path.clone(),
            id_tokens: JwtAuthenticator::new(location, keys, id_token_checks),
            introspection,
        })
    }

    /// A `CUSTOM` client with its secret, warning when the secret is not configured.
    fn client(
        &self,
        c: &CustomClientAppDetails,
        path: &str,
        diags: &mut Diagnostics,
    ) -> ClientCredentials {
        let version = u32::try_from(c.client_secret_version_number).ok();
        let secret = self.options.secrets.get(&c.client_secret_id, version);
        if let Err(e) = &secret {
            diags
                .warning(
                    Kind::Configure,
                    format!("{path}.clientSecretId"),
                    format!("{e}; requests with a token get 500"),
                )
                .hint("[[secret]] in gateway.toml holds what OCI keeps in Vault");
        }
        ClientCredentials {
            id: c.client_id.clone(),
            secret,
        }
    }

    /// The identity provider whose discovery document is at `uri`.
    fn provider(
        &self,
        uri: &str,
        hours: Option<u32>,
        ssl_verify_disabled: Option<bool>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Arc<Provider>> {
        let verify_tls = !ssl_verify_disabled.unwrap_or(false);
        match Provider::new(
            uri,
            cache_duration(hours),
            verify_tls,
            self.options.jwks.clone(),
        ) {
            Ok(provider) => Some(Arc::new(provider)),
            Err(e) => {
                diags.error(path, e);
                None
            }
        }
    }

    /// `REMOTE_DISCOVERY`: tokens checked at the provider's introspection endpoint, as the
    /// `clientDetails` client; the introspecting authenticator itself too, for sessions.
    #[allow(clippy::too_many_arguments)]
    fn introspection(
        &self,
        policy: &RemoteDiscoveryValidationPolicy,
        provider: Arc<Provider>,
        location: TokenLocation,
        checks: ClaimChecks,
        jwt: JwtAuthenticator,
        path: &str,
        diags: &mut Diagnostics,
    ) -> (
        Arc<dyn Authenticator>,
        Option<Arc<IntrospectionAuthenticator>>,
    ) {
        let client = match &policy.client_details {
            ClientAppDetails::Custom(c) => self.client(c, &format!("{path}.clientDetails"), diags),
            ClientAppDetails::ValidationBlock => {
                diags.warning(
                    Kind::Invalid,
                    format!("{path}.clientDetails"),
                    "VALIDATION_BLOCK names no client to introspect with: only JWTs are validated, with the keys of the discovery document's jwks_uri",
                );
                return (Arc::new(jwt), None);
            }
        };
        let introspection = Arc::new(IntrospectionAuthenticator::new(
            location,
            provider,
            client,
            checks,
            cache_duration(policy.max_cache_duration_in_hours),
            self.options.cache_capacity,
            jwt,
        ));
        (introspection.clone(), Some(introspection))
    }

    fn remote(
        &self,
        source: KeySource,
        hours: Option<u32>,
        ssl_verify_disabled: Option<bool>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Keys> {
        let verify_tls = !ssl_verify_disabled.unwrap_or(false);
        match RemoteKeys::new(
            source,
            cache_duration(hours),
            verify_tls,
            self.options.jwks.clone(),
        ) {
            Ok(keys) => Some(Keys::Remote(Arc::new(keys))),
            Err(e) => {
                diags.error(path, e);
                None
            }
        }
    }
}

impl AuthenticatorFactory for Authenticators {
    fn build(
        &self,
        policy: &Authentication,
        functions: &FunctionRegistry,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Arc<dyn Authenticator>> {
        match policy {
            Authentication::Custom(c) => self.custom(c, functions, path, diags),
            Authentication::Jwt(j) => self.jwt(j, path, diags),
            Authentication::Token(t) => self.token(t, path, diags),
        }
    }
}

/// `maxCacheDurationInHours` (1–24, default 1) as a duration.
fn cache_duration(hours: Option<u32>) -> Duration {
    let hours = hours.unwrap_or(DEFAULT_CACHE_HOURS).clamp(1, 24);
    Duration::from_secs(u64::from(hours) * 3600)
}

fn token_location(
    policy: &Authentication,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<TokenLocation> {
    let scheme = match policy {
        Authentication::Jwt(j) => j.token_auth_scheme.as_deref(),
        Authentication::Token(t) => t.token_auth_scheme.as_deref(),
        Authentication::Custom(_) => None,
    };
    let location = policy
        .token_source()
        .and_then(|source| TokenLocation::new(source, scheme));
    if location.is_none() {
        diags.error(path, "no usable tokenHeader or tokenQueryParam");
    }
    location
}

/// Builds every static key, reporting each that cannot be used.
fn static_keys(keys: &[StaticKey], path: &str, diags: &mut Diagnostics) -> Option<Keys> {
    let mut usable = Vec::with_capacity(keys.len());
    let mut ok = true;
    for (i, key) in keys.iter().enumerate() {
        match VerifyKey::from_static(key) {
            Ok(k) => {
                if let Some((bits, exponent)) = k.rsa_size() {
                    warn_weak_rsa(&format!("{path}[{i}]"), bits, exponent, diags);
                }
                usable.push(k);
            }
            Err(e) => {
                diags.error(format!("{path}[{i}]"), e.to_string());
                ok = false;
            }
        }
    }
    ok.then(|| Keys::Static(Arc::new(KeySet::new(usable))))
}

/// Warns about an RSA key that no token should be trusted with, or that the verifier refuses
/// outright (every token would get 401).
fn warn_weak_rsa(path: &str, bits: u64, exponent: u64, diags: &mut Diagnostics) {
    if bits < 2048 {
        diags
            .warning(
                Kind::Invalid,
                path,
                format!(
                    "the RSA key has a {bits}-bit modulus: no token signed with it will verify"
                ),
            )
            .hint("use a key of 2048 to 8192 bits");
    } else if bits > 8192 {
        diags.warning(
            Kind::Invalid,
            path,
            format!("the RSA key has a {bits}-bit modulus: no token signed with it will verify (at most 8192 bits)"),
        );
    }
    if exponent < 65537 || exponent % 2 == 0 {
        diags
            .warning(
                Kind::Invalid,
                path,
                format!("the RSA key's public exponent is {exponent}"),
            )
            .hint("a small or even exponent is weak or invalid; keys use 65537");
    }
}

fn checks(
    issuers: &[String],
    audiences: &[String],
    verify_claims: &[JsonWebTokenClaim],
    skew: Option<f64>,
) -> ClaimChecks {
    // The loader keeps the skew within 0–120 s; rounding down never widens the window.
    let leeway = skew.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(0.0);
    ClaimChecks {
        issuers: issuers.to_vec(),
        audiences: audiences.to_vec(),
        verify_claims: verify_claims.to_vec(),
        leeway: leeway.min(120.0) as u64,
    }
}
