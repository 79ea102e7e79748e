//! Function invokers for the gateway.
