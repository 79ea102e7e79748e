//! The SDK's string enums. Each serializes to its SDK spelling and decodes with an "unknown
//! value" diagnostic whose hint fixes the case, suggests a near miss or lists the values.

use crate::spec::decode::string_enum;

string_enum! {
    /// A route method (reference 1.5). `ANY` stands for every method.
    pub enum HttpMethod: "method", "methods" {
        /// Every method.
        Any = "ANY",
        /// `HEAD`.
        Head = "HEAD",
        /// `GET`.
        Get = "GET",
        /// `POST`.
        Post = "POST",
        /// `PUT`.
        Put = "PUT",
        /// `PATCH`.
        Patch = "PATCH",
        /// `DELETE`.
        Delete = "DELETE",
        /// `OPTIONS`.
        Options = "OPTIONS",
    }
}

string_enum! {
    /// What a set transformation does when the header or query parameter already exists
    /// (reference 4.7); an absent one is always added.
    pub enum IfExists: "ifExists value", "ifExists values" {
        /// Replace the existing values (the default).
        Overwrite = "OVERWRITE",
        /// Keep the existing values and add these.
        Append = "APPEND",
        /// Leave the existing values alone.
        Skip = "SKIP",
    }
}

string_enum! {
    /// A filter transformation's mode (reference 4.7). Filters run after set and rename.
    pub enum FilterType: "filter type", "filter types" {
        /// Remove the listed names.
        Block = "BLOCK",
        /// Keep only the listed names.
        Allow = "ALLOW",
    }
}

string_enum! {
    /// How a request validation reacts to a failure (reference 4.8).
    pub enum ValidationMode: "validation mode", "validation modes" {
        /// Reject with a 4xx and do not call the back end (the default).
        Enforcing = "ENFORCING",
        /// Log the failure and let the request continue.
        Permissive = "PERMISSIVE",
        /// Do not validate.
        Disabled = "DISABLED",
    }
}

string_enum! {
    /// What a rate limit counts (reference 4.4).
    pub enum RateKey: "rate key", "rate keys" {
        /// One bucket per client IP (IPv6 clients grouped by /64).
        ClientIp = "CLIENT_IP",
        /// One bucket for all clients together.
        Total = "TOTAL",
    }
}

string_enum! {
    /// Execution-log verbosity (reference 1.4, 10.2).
    pub enum LogLevel: "log level", "log levels" {
        /// Every stage.
        Info = "INFO",
        /// Transient errors.
        Warn = "WARN",
        /// Persistent errors.
        Error = "ERROR",
    }
}

string_enum! {
    /// The OAuth2 response type of an `OAUTH2` validation failure policy: the authorization
    /// code flow is the only one.
    pub enum ResponseType: "response type", "response types" {
        /// The authorization code flow (`code` is accepted, with a warning).
        Code = "CODE",
    }
    aliases { "code" => Code }
}

string_enum! {
    /// A JSON web key's `kty`: only RSA keys verify tokens (reference 4.1.2).
    pub enum KeyType: "key type", "key types" {
        /// An RSA public key.
        Rsa = "RSA",
    }
}

string_enum! {
    /// A JSON web key's `use`: if present it must be `sig`.
    pub enum KeyUse: "key use", "key uses" {
        /// A signature key.
        Sig = "sig",
    }
}

string_enum! {
    /// A JSON web key's `key_ops` entry: the list must contain `verify`.
    pub enum KeyOperation: "key operation", "key operations" {
        /// The key verifies signatures.
        Verify = "verify",
    }
}
