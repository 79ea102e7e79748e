//! Authentication, authorization and IAM policies for the gateway.

pub mod iam;
