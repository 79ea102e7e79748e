//! Authentication, authorization and IAM policies for the gateway.
