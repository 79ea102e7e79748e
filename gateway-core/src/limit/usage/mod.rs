//! Usage plans (reference 4.5): client tokens, entitlements, rate limits and calendar quotas.
//!
//! * [`config`] — the `[[usage_plan]]` / `[[subscriber]]` configuration and [`UsagePlans`],
//!   the checked, token-indexed whole, built once;
//! * [`layer`] — [`UsagePlanLimiter`] (one per deployment) and [`UsagePlansLayer`];
//! * [`calendar`] — UTC quota windows.

pub(crate) mod calendar;
pub(crate) mod config;
pub(crate) mod layer;

pub use config::{
    ClientConfig, EntitlementConfig, Grant, OperationOnBreach, QuotaSpec, QuotaUnit, RateLimitSpec,
    RateUnit, ResetPolicy, SubscriberConfig, UsagePlanConfig, UsagePlanError, UsagePlans,
};
pub use layer::{
    ResponseFuture as UsagePlansFuture, UsageDecider, UsagePlanId, UsagePlanLimiter,
    UsagePlansLayer, UsagePlansService,
};
