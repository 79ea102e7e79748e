//! `usagePlans` (reference 4.5) as a tower layer.
//!
//! A deployment's [`UsagePlanLimiter`] is built once, from the shared [`UsagePlans`], and holds
//! only what this deployment needs: every known token mapped to the entitlement that applies
//! here, or to "not entitled". Per request: read the token at the first `tokenLocations` entry
//! that has a value, look it up, then one store check covering the entitlement's rate limit and
//! quota together (skipped when the entitlement has neither).
//!
//! Answers (OCI leaves the statuses open; these are the proposals of reference 4.5):
//!
//! | case | status | log code |
//! |---|---|---|
//! | no token, or an unknown token | 401 | `usagePlans.requestRejected` |
//! | a valid token whose plans do not entitle this deployment | 401 | `usagePlans.eligibleNotEntitled` |
//! | over the rate limit | 429 + `Retry-After` + `X-RateLimit-*` | `usagePlans.requestRejected` |
//! | over the quota, `REJECT` | 429 + `Retry-After` (end of the window) | `usagePlans.requestRejected` |
//! | over the quota, `ALLOW` | served | `usagePlans.requestBreachedButAllowed` |
//! | store unreachable | served (`open`) or 503 (`closed`) | `usagePlans.storeUnavailable` |
//!
//! "Not entitled" is 401 rather than 403 on purpose: from this deployment's point of view the
//! token is not a credential for it, and a distinct status would tell whoever holds a leaked
//! token that it is valid elsewhere. The log code still tells operators the difference.
//! `operationOnBreach` applies to the quota only, as in OCI: the rate limit always rejects.
//!
//! Limits are counted per client token (subscriber + client name), shared by every deployment
//! the entitlement targets, as OCI shares them.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower::{Layer, Service};

use super::calendar::Window;
use super::config::{Grant, OperationOnBreach, UsagePlanError, UsagePlans};
use crate::body::Body;
use crate::context::{RawVars, RequestContext};
use crate::error::GatewayError;
use crate::limit::future::{Decide, LimitFuture, Throttled, Verdict};
use crate::limit::gcra::Gcra;
use crate::limit::headers::RateHeaders;
use crate::limit::rate::LimitCounters;
use crate::limit::settings::{LimitSettings, OnUnavailable};
use crate::limit::store::{key_part, LimitKey, LimitOutcome, LimitRequest, QuotaCheck, Subject};
use crate::spec::UsagePlansPolicy;
use crate::store::StoreError;
use crate::vars::{Selector, Table, TableSet, VarSource};

/// OCI's execution-log code for a request admitted within its limits.
pub(crate) const LOG_PERMITTED: &str = "usagePlans.requestPermitted";
/// OCI's execution-log code for a request refused for its token (missing or unknown) or for
/// its rate or quota.
pub(crate) const LOG_REJECTED: &str = "usagePlans.requestRejected";
/// OCI's execution-log code for a valid token whose plans do not entitle this deployment.
pub(crate) const LOG_NOT_ENTITLED: &str = "usagePlans.eligibleNotEntitled";
/// OCI's execution-log code for a request over its quota, served because the quota's
/// `operationOnBreach` is `ALLOW`.
pub(crate) const LOG_BREACHED_ALLOWED: &str = "usagePlans.requestBreachedButAllowed";
/// OCI's execution-log code for a request decided without the store, which could not be
/// reached: admitted or refused as `on_unavailable` says.
pub(crate) const LOG_UNAVAILABLE: &str = "usagePlans.storeUnavailable";

/// Quota counters outlive their window by this much, so a replica whose clock lags still finds
/// the counter the others used.
const QUOTA_MARGIN: Duration = Duration::from_secs(300);

/// The caller's usage plan, in the request extensions once the usage-plan layer admitted it:
/// `request.usage_plan[id]` reads [`UsagePlanId::as_str`]; metrics read [`UsagePlanId::grant`].
#[derive(Debug, Clone)]
pub struct UsagePlanId(Arc<Grant>);

impl UsagePlanId {
    /// The plan's id.
    pub fn as_str(&self) -> &str {
        &self.0.plan_id
    }

    /// Plan, entitlement, subscriber and client.
    pub fn grant(&self) -> &Grant {
        &self.0
    }
}

/// What a token may do on this deployment.
#[derive(Debug)]
enum Access {
    Entitled(Arc<Entitlement>),
    NotEntitled,
}

/// One token's entitlement here, with its keys built once.
#[derive(Debug)]
struct Entitlement {
    id: UsagePlanId,
    /// `up/<plan>/<entitlement>`.
    namespace: Box<str>,
    /// `<subscriber id>/<client name>`.
    subject: Box<str>,
    gcra: Option<Gcra>,
}

/// Records the caller's plan for the rest of the request: as an extension for layers and
/// metrics, and in the request context for `request.usage_plan[id]`.
fn record_grant(extensions: &mut http::Extensions, id: &UsagePlanId) {
    if let Some(ctx) = extensions.get_mut::<crate::context::RequestContext>() {
        ctx.set_usage_plan(Arc::from(id.as_str()));
    }
    extensions.insert(id.clone());
}

/// One deployment's usage plans.
#[derive(Debug)]
pub struct UsagePlanLimiter {
    deployment: Arc<str>,
    token_locations: Box<[Selector]>,
    tokens: HashMap<Box<str>, Access>,
    settings: LimitSettings,
    counters: LimitCounters,
}

impl UsagePlanLimiter {
    /// The usage plans of deployment `deployment`, whose spec has `policy`.
    pub fn new(
        deployment: &str,
        policy: &UsagePlansPolicy,
        plans: &UsagePlans,
        settings: LimitSettings,
    ) -> Result<Self, UsagePlanError> {
        let token_locations = policy
            .token_locations
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Selector::parse(text, TableSet::TOKEN_LOCATIONS).map_err(|e| UsagePlanError {
                    at: format!("requestPolicies.usagePlans.tokenLocations[{i}]"),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Box<[_]>, _>>()?;
        let tokens = plans
            .tokens()
            .map(|(token, entry)| {
                let access = entry
                    .grants
                    .iter()
                    .find(|(target, _)| **target == *deployment)
                    .map_or(Access::NotEntitled, |(_, grant)| {
                        Access::Entitled(Arc::new(Entitlement {
                            namespace: format!(
                                "up/{}/{}",
                                key_part(&grant.plan_id),
                                key_part(&grant.entitlement)
                            )
                            .into(),
                            subject: format!(
                                "{}/{}",
                                key_part(&grant.subscriber_id),
                                key_part(&grant.client)
                            )
                            .into(),
                            gcra: grant.rate_limit.map(|r| Gcra::per_second(r.value, r.value)),
                            id: UsagePlanId(grant.clone()),
                        }))
                    });
                (token.into(), access)
            })
            .collect();
        Ok(Self {
            deployment: deployment.into(),
            token_locations,
            tokens,
            settings,
            counters: LimitCounters::default(),
        })
    }

    /// Whether a token location reads `request.auth[…]`: then the layer must sit after
    /// authentication, or it never finds the token.
    pub fn reads_auth(&self) -> bool {
        self.token_locations
            .iter()
            .any(|s| s.table() == Table::Auth)
    }

    /// What the limiter decided so far, for the metrics.
    pub fn counters(&self) -> &LimitCounters {
        &self.counters
    }

    /// What the request's token may do here, or the refusal.
    fn access<B>(&self, req: &Request<B>) -> Result<Arc<Entitlement>, Refusal> {
        // Token values borrow from the variable source, so the lookup happens inside.
        match req.extensions().get::<RequestContext>() {
            Some(ctx) => self.lookup(&ctx.vars(req.headers())),
            None => self.lookup(&RawVars {
                headers: req.headers(),
                query: req.uri().query(),
            }),
        }
    }

    /// Reads the token at the first location with a non-empty value and looks it up.
    fn lookup(&self, vars: &impl VarSource) -> Result<Arc<Entitlement>, Refusal> {
        let token = self
            .token_locations
            .iter()
            .find_map(|s| s.value(vars).filter(|v| !v.is_empty()));
        let Some(token) = token else {
            return Err(Refusal(LOG_REJECTED, "no client token"));
        };
        match self.tokens.get(token) {
            None => Err(Refusal(LOG_REJECTED, "unknown client token")),
            Some(Access::NotEntitled) => Err(Refusal(
                LOG_NOT_ENTITLED,
                "no plan of the client entitles this deployment",
            )),
            Some(Access::Entitled(e)) => Ok(e.clone()),
        }
    }

    fn reject(&self, Refusal(log_code, reason): Refusal) -> GatewayError {
        self.counters.count_denied();
        tracing::info!(
            code = log_code,
            deployment = &*self.deployment,
            reason,
            "usage plan"
        );
        GatewayError::UsagePlanUnauthorized { log_code }
    }
}

/// Why a token was refused: its log code and a reason for the log.
#[derive(Debug, Clone, Copy)]
struct Refusal(&'static str, &'static str);

/// Decides one admitted token's request from the store's answer.
#[derive(Debug)]
pub struct UsageDecider {
    limiter: Arc<UsagePlanLimiter>,
    entitlement: Arc<Entitlement>,
    /// The quota window and the time it was computed at.
    window: Option<(Window, Duration)>,
}

impl<B> Decide<B> for UsageDecider {
    fn decide(
        &mut self,
        result: Result<LimitOutcome, StoreError>,
        request: &mut Request<B>,
    ) -> Verdict {
        let limiter = &self.limiter;
        let grant = self.entitlement.id.grant();
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                limiter.counters.count_unavailable();
                tracing::debug!(code = LOG_UNAVAILABLE, deployment = &*limiter.deployment,
                    store = limiter.settings.store.kind(), %error, "usage-plan store unavailable");
                return match limiter.settings.on_unavailable {
                    OnUnavailable::Open => {
                        limiter.counters.count_permitted();
                        record_grant(request.extensions_mut(), &self.entitlement.id);
                        Verdict::Pass(None)
                    }
                    OnUnavailable::Closed => Verdict::Reject(GatewayError::LimitStoreUnavailable {
                        log_code: LOG_UNAVAILABLE,
                    }),
                };
            }
        };
        if outcome.admitted {
            limiter.counters.count_permitted();
            if outcome.quota.is_some_and(|q| q.breached) {
                tracing::info!(
                    code = LOG_BREACHED_ALLOWED,
                    deployment = &*limiter.deployment,
                    entitlement_name = &*grant.entitlement,
                    subscriber_id = &*grant.subscriber_id,
                    client_name = &*grant.client,
                    configured_limit = grant.quota.map(|q| q.value),
                    configured_unit = grant.quota.map(|q| q.unit.as_str()),
                    "quota exceeded; request allowed by the usage plan"
                );
            } else {
                tracing::trace!(
                    code = LOG_PERMITTED,
                    deployment = &*limiter.deployment,
                    "usage plan"
                );
            }
            record_grant(request.extensions_mut(), &self.entitlement.id);
            return Verdict::Pass(None);
        }
        limiter.counters.count_denied();
        let (retry_after, headers, limit, unit) = match outcome.rate {
            Some(d) if !d.allowed => (
                Duration::from_micros(d.retry_after_us),
                Some(RateHeaders::new(
                    self.entitlement.gcra.map_or(1, |g| g.burst()),
                    &d,
                )),
                grant.rate_limit.map(|r| u64::from(r.value)),
                "SECOND",
            ),
            _ => {
                let wait = self
                    .window
                    .map_or(Duration::ZERO, |(w, now)| w.remaining(now));
                (
                    wait,
                    None,
                    grant.quota.map(|q| q.value),
                    grant.quota.map_or("", |q| q.unit.as_str()),
                )
            }
        };
        tracing::info!(
            code = LOG_REJECTED,
            deployment = &*limiter.deployment,
            entitlement_name = &*grant.entitlement,
            subscriber_id = &*grant.subscriber_id,
            client_name = &*grant.client,
            configured_limit = limit,
            configured_unit = unit,
            "usage plan limit exceeded"
        );
        Verdict::Reject(
            Throttled {
                retry_after,
                log_code: LOG_REJECTED,
                rate: headers,
            }
            .into(),
        )
    }
}

/// Applies a deployment's [`UsagePlanLimiter`] to a route.
#[derive(Debug, Clone)]
pub struct UsagePlansLayer {
    limiter: Arc<UsagePlanLimiter>,
}

impl UsagePlansLayer {
    /// A layer that applies `limiter`; give every route of the deployment the same `Arc`.
    pub fn new(limiter: Arc<UsagePlanLimiter>) -> Self {
        Self { limiter }
    }
}

impl<S> Layer<S> for UsagePlansLayer {
    type Service = UsagePlansService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UsagePlansService {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// Admits requests carrying an entitled client token within its limits; see the module docs.
#[derive(Debug, Clone)]
pub struct UsagePlansService<S> {
    inner: S,
    limiter: Arc<UsagePlanLimiter>,
}

impl<S> UsagePlansService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Response future of [`UsagePlansService`].
pub type ResponseFuture<S, B> = LimitFuture<S, B, UsageDecider>;

impl<S, B> Service<Request<B>> for UsagePlansService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone,
    S::Error: From<GatewayError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let limiter = &self.limiter;
        let entitlement = match limiter.access(&req) {
            Ok(entitlement) => entitlement,
            Err(refusal) => return LimitFuture::refuse(limiter.reject(refusal)),
        };
        let grant = entitlement.id.grant();
        let now = limiter.settings.clock.unix_time();
        let window = grant.quota.map(|q| (Window::containing(q.unit, now), now));
        if entitlement.gcra.is_none() && window.is_none() {
            // Unlimited: nothing to count.
            limiter.counters.count_permitted();
            record_grant(req.extensions_mut(), &entitlement.id);
            return LimitFuture::pass(&mut self.inner, req);
        }
        let key = |window| LimitKey {
            namespace: &entitlement.namespace,
            subject: Subject::Named(&entitlement.subject),
            window,
        };
        let check = LimitRequest {
            rate: entitlement.gcra.map(|g| (key(None), g)),
            quota: grant.quota.zip(window).map(|(q, (w, now))| QuotaCheck {
                key: key(Some(w.start)),
                limit: q.value,
                ttl: w.remaining(now) + QUOTA_MARGIN,
                enforce: q.operation_on_breach == OperationOnBreach::Reject,
            }),
        };
        let call = limiter.settings.store.check(&check);
        let decider = UsageDecider {
            limiter: limiter.clone(),
            entitlement: entitlement.clone(),
            window,
        };
        LimitFuture::start(&mut self.inner, call, req, decider)
    }
}
