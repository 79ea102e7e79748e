//! The OCI request signer against every reference vector made with Oracle's Python SDK
//! (`shared/vectors/oci_sign_vectors.json`): signing string, signature and Authorization
//! header, byte for byte.
#![cfg(feature = "oci")]

mod oci_support;

/// In a module named `oci` so that `cargo test oci` selects these tests.
mod oci {
    use std::sync::Arc;

    use crate::oci_support::{text, vectors, TestResult};
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use gateway_fn_backend::oci::signer::{
        self, api_key_id, content_sha256, request_target, security_token_key_id,
        signed_header_names, PrivateKey, RequestSigner, SignError,
    };
    use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

    /// The signer for a case's identity, from the PKCS#8 or the PKCS#1 form of the key.
    fn signer_for(
        doc: &serde_json::Value,
        case: &serde_json::Value,
        pem_field: &str,
    ) -> Result<RequestSigner, Box<dyn std::error::Error + Send + Sync>> {
        let key = Arc::new(PrivateKey::from_pem(text(doc, pem_field).as_bytes())?);
        let key_id = match text(case, "identity") {
            "security_token" => security_token_key_id(text(doc, "security_token")),
            "api_key" => api_key_id(
                text(doc, "tenancy"),
                text(doc, "user"),
                text(doc, "fingerprint"),
            ),
            other => panic!("unknown identity {other}"),
        };
        Ok(RequestSigner::new(key_id, key)?)
    }

    /// The headers the SDK sent, minus what the signer must compute itself: `authorization`, and
    /// for body methods `content-length` and `x-content-sha256` (so those are checked too).
    fn input_headers(
        case: &serde_json::Value,
        drop_host: bool,
    ) -> Result<HeaderMap, Box<dyn std::error::Error + Send + Sync>> {
        let method = text(case, "method");
        let body_method = matches!(method, "POST" | "PUT" | "PATCH");
        let mut headers = HeaderMap::new();
        let sent = case
            .get("headers_sent")
            .and_then(|h| h.as_object())
            .ok_or("no headers_sent")?;
        for (name, value) in sent {
            let name = name.to_ascii_lowercase();
            let computed = name == "authorization"
                || (body_method && (name == "content-length" || name == "x-content-sha256"))
                || (drop_host && name == "host");
            if computed {
                continue;
            }
            let value = value.as_str().ok_or("header value not a string")?;
            headers.append(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        Ok(headers)
    }

    #[test]
    fn every_vector_is_reproduced_byte_for_byte() -> TestResult {
        let doc = vectors();
        let cases = doc
            .get("cases")
            .and_then(|c| c.as_array())
            .ok_or("no cases")?;
        assert!(
            cases.len() >= 8,
            "expected the 8 reference cases, got {}",
            cases.len()
        );
        for case in cases {
            let name = text(case, "name");
            let method = Method::from_bytes(text(case, "method").as_bytes())?;
            let uri: Uri = text(case, "url").parse()?;
            let body = BASE64.decode(text(case, "body_base64"))?;

            // Pure pieces first.
            let names: Vec<&str> = case
                .get("signed_headers")
                .and_then(|h| h.as_array())
                .ok_or("no signed_headers")?
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert_eq!(
                signed_header_names(&method),
                names.as_slice(),
                "{name}: header list"
            );
            assert_eq!(
                request_target(&method, &uri),
                text(case, "request_target"),
                "{name}: target"
            );
            assert_eq!(
                content_sha256(&body),
                text(case, "body_sha256_base64"),
                "{name}: body hash"
            );

            // Then the whole signature, with the Host header given and derived from the URI,
            // and with both PEM forms of the key.
            for (pem_field, drop_host) in [
                ("private_key_pkcs8_pem", false),
                ("private_key_pkcs8_pem", true),
                ("private_key_pkcs1_pem", false),
            ] {
                let what = format!("{name} ({pem_field}, host derived: {drop_host})");
                let signer = signer_for(&doc, case, pem_field)?;
                let mut headers = input_headers(case, drop_host)?;
                let signature = signer.sign(&method, &uri, &mut headers, &body)?;
                assert_eq!(
                    signature.signing_string,
                    text(case, "signing_string"),
                    "{what}: signing string"
                );
                assert_eq!(
                    signature.signature,
                    text(case, "signature"),
                    "{what}: signature"
                );
                assert_eq!(
                    signature.authorization.to_str()?,
                    text(case, "authorization"),
                    "{what}: Authorization"
                );
                assert_eq!(
                    headers.get("authorization").map(|v| v.as_bytes()),
                    Some(text(case, "authorization").as_bytes()),
                    "{what}: header inserted"
                );
                assert_eq!(
                    headers.get("host").map(|v| v.as_bytes()),
                    Some(text(case, "host").as_bytes()),
                    "{what}: host"
                );
                if signer::has_signed_body(&method) {
                    assert_eq!(
                        headers.get("x-content-sha256").map(|v| v.as_bytes()),
                        Some(text(case, "body_sha256_base64").as_bytes()),
                        "{what}: x-content-sha256 sent"
                    );
                    assert_eq!(
                        headers.get("content-length").map(|v| v.as_bytes()),
                        Some(body.len().to_string().as_bytes()),
                        "{what}: content-length sent"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn fingerprint_and_key_ids_match_the_sdk() -> TestResult {
        let doc = vectors();
        let key = PrivateKey::from_pem(text(&doc, "private_key_pkcs8_pem").as_bytes())?;
        assert_eq!(key.fingerprint(), text(&doc, "fingerprint"));
        let pkcs1 = PrivateKey::from_pem(text(&doc, "private_key_pkcs1_pem").as_bytes())?;
        assert_eq!(pkcs1.fingerprint(), text(&doc, "fingerprint"));
        assert_eq!(
            key.public_key_spki_der()?,
            crate::oci_support::pem_body(text(&doc, "public_key_spki_pem"))
        );
        assert_eq!(
            api_key_id(
                text(&doc, "tenancy"),
                text(&doc, "user"),
                text(&doc, "fingerprint")
            ),
            text(&doc, "api_key_id")
        );
        assert_eq!(
            security_token_key_id(text(&doc, "security_token")),
            text(&doc, "security_token_key_id")
        );
        Ok(())
    }

    #[test]
    fn date_is_added_when_absent_and_body_methods_need_a_content_type() -> TestResult {
        let doc = vectors();
        let key = Arc::new(PrivateKey::from_pem(
            text(&doc, "private_key_pkcs8_pem").as_bytes(),
        )?);
        let signer = RequestSigner::new(text(&doc, "api_key_id"), key)?;
        let uri: Uri = "https://example.invalid:8443/a?b=c".parse()?;

        let mut headers = HeaderMap::new();
        let signature = signer.sign(&Method::GET, &uri, &mut headers, b"")?;
        let date = headers.get("date").ok_or("no date")?.to_str()?;
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
        assert!(date.ends_with(" GMT"), "{date}");
        assert_eq!(
            signature.signing_string,
            format!("date: {date}\n(request-target): get /a?b=c\nhost: example.invalid:8443")
        );

        let mut headers = HeaderMap::new();
        assert_eq!(
            signer.sign(&Method::POST, &uri, &mut headers, b"{}").err(),
            Some(SignError::MissingHeader("content-type"))
        );
        Ok(())
    }

    #[test]
    fn bad_keys_and_key_ids_are_clear_errors() -> TestResult {
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = PrivateKey::from_pem(encrypted.as_bytes())
            .err()
            .ok_or("accepted")?;
        assert!(err.to_string().contains("encrypted"), "{err}");
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_pem(legacy.as_bytes()),
            Err(signer::KeyError::Encrypted)
        ));
        assert!(matches!(
            PrivateKey::from_pem(b"not a key"),
            Err(signer::KeyError::NoPem(_))
        ));
        let ec = rcgen::KeyPair::generate()?.serialize_pem();
        assert!(PrivateKey::from_pem(ec.as_bytes()).is_err());

        let doc = vectors();
        let key = Arc::new(PrivateKey::from_pem(
            text(&doc, "private_key_pkcs8_pem").as_bytes(),
        )?);
        assert!(RequestSigner::new("a\"b", key.clone()).is_err());
        assert!(RequestSigner::new("a\nb", key.clone()).is_err());
        assert!(RequestSigner::new("", key.clone()).is_err());
        // Debug never shows a token.
        let token_signer = RequestSigner::new(security_token_key_id("secret-token"), key)?;
        assert!(!format!("{token_signer:?}").contains("secret-token"));
        Ok(())
    }
}
