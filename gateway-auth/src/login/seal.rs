//! Encrypted, authenticated values for cookies and headers (AES-256-GCM on aws-lc-rs).
//!
//! The key is derived (HKDF-SHA256) from the OAuth2 client's secret and id, so every replica
//! configured with the same client reads every other replica's sessions without a key of its
//! own to distribute, a reload or restart keeps sessions, and rotating the secret ends them.
//! The name a value travels under (the cookie name) is bound in as associated data: a value
//! moved to another cookie does not open.

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Seals and opens values with one client's key.
pub(crate) struct Sealer {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealer of the client `client_id` whose secret is `secret`.
    pub(crate) fn derive(secret: &str, client_id: &str) -> Self {
        let prk = Salt::new(HKDF_SHA256, b"gateway oauth2 sessions").extract(secret.as_bytes());
        let info = [client_id.as_bytes()];
        let mut key = [0u8; 32];
        // HKDF-SHA256 expands to 32 bytes whatever the input: neither step can fail.
        let okm = prk.expand(&info, HKDF_SHA256).map(|okm| okm.fill(&mut key));
        debug_assert!(matches!(okm, Ok(Ok(()))));
        let key = RandomizedNonceKey::new(&AES_256_GCM, &key);
        Self {
            key: key.unwrap_or_else(|_| unreachable!("a 32-byte key is an AES-256 key")),
        }
    }

    /// `plaintext`, encrypted under a fresh nonce, bound to `name`: URL-safe base64 text.
    pub(crate) fn seal(&self, name: &str, plaintext: &[u8]) -> String {
        let mut data = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(name.as_bytes()), &mut data)
            .unwrap_or_else(|_| unreachable!("AES-GCM seals any input shorter than 64 GiB"));
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// What [`seal`](Self::seal) sealed under `name`, or `None` for anything else: another
    /// key, another name, a changed byte, junk.
    pub(crate) fn open(&self, name: &str, text: &str) -> Option<Vec<u8>> {
        let mut data = URL_SAFE_NO_PAD.decode(text).ok()?;
        if data.len() < NONCE_LEN {
            return None;
        }
        let mut sealed = data.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&data).ok()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut sealed)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// A fresh random value of `bytes` bytes as URL-safe base64: states, nonces, PKCE verifiers,
/// session ids and CSRF tokens.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).unwrap_or_else(|_| unreachable!("the system RNG works"));
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_name() {
        let sealer = Sealer::derive("gw-secret", "gateway");
        let text = sealer.seal("apigw_session", b"{\"sub\":\"alice\"}");
        assert_eq!(
            sealer.open("apigw_session", &text).as_deref(),
            Some(&b"{\"sub\":\"alice\"}"[..])
        );
        // Replicas with the same client agree; another secret or client does not.
        let replica = Sealer::derive("gw-secret", "gateway");
        assert!(replica.open("apigw_session", &text).is_some());
        assert!(Sealer::derive("other", "gateway")
            .open("apigw_session", &text)
            .is_none());
        assert!(Sealer::derive("gw-secret", "other")
            .open("apigw_session", &text)
            .is_none());
        // Moved to another cookie, or changed anywhere, it does not open.
        assert!(sealer.open("apigw_login_x", &text).is_none());
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).expect("base64");
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert!(sealer
                .open("apigw_session", &URL_SAFE_NO_PAD.encode(&bytes))
                .is_none());
            bytes[i] ^= 1;
        }
        assert!(sealer.open("apigw_session", "").is_none());
        assert!(sealer.open("apigw_session", "not base64!").is_none());
        // Every seal uses a fresh nonce.
        assert_ne!(text, sealer.seal("apigw_session", b"{\"sub\":\"alice\"}"));
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
