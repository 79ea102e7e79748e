//! A certificate authority made at run time and a server certificate for loopback it signed,
//! for the TLS servers the tests start.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};

use crate::TempDir;

/// PEM files: the server's certificate and key (for `localhost` and `127.0.0.1`), and the CA.
#[derive(Debug, Clone)]
pub struct ServerPki {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl ServerPki {
    /// Generates a CA named `name` and a server certificate, written into `dir`.
    pub fn new(dir: &TempDir, name: &str) -> ServerPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        ServerPki {
            cert: dir.write(&format!("{name}.pem"), &cert.pem()).into(),
            key: dir
                .write(&format!("{name}.key"), &key.serialize_pem())
                .into(),
            ca: dir.write(&format!("{name}-ca.pem"), &ca.pem()).into(),
        }
    }
}
