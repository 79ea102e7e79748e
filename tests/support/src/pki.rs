//! A certificate authority made at run time and a server certificate for loopback it signed,
//! for the TLS servers the tests start.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};

use crate::TempDir;

/// PEM files: the server's certificate and key (for `localhost` and `127.0.0.1`), and the CA.
#[derive(Debug, Clone)]
pub struct ServerPki {
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// The CA that signed the certificate, for clients to trust.
    pub ca: PathBuf,
}

/// A self-signed CA named `name`, to sign server (and client) certificates with.
pub fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

impl ServerPki {
    /// Generates a CA named `name` and a server certificate, written into `dir` as
    /// `NAME.pem`, `NAME.key` and `NAME-ca.pem`.
    pub fn new(dir: &TempDir, name: &str) -> ServerPki {
        Self::signed_by(&ca(name), dir, name)
    }

    /// A server certificate signed by `ca`, written into `dir` with the CA as for
    /// [`ServerPki::new`].
    pub fn signed_by(
        ca: &CertifiedIssuer<'static, KeyPair>,
        dir: &TempDir,
        name: &str,
    ) -> ServerPki {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, ca).expect("server certificate");
        ServerPki {
            cert: dir.write(&format!("{name}.pem"), &cert.pem()).into(),
            key: dir
                .write(&format!("{name}.key"), &key.serialize_pem())
                .into(),
            ca: dir.write(&format!("{name}-ca.pem"), &ca.pem()).into(),
        }
    }
}
