//! `OciFunction` end to end against a local HTTPS endpoint (127.0.0.1, throw-away CA trusted
//! through extra roots) that behaves like OCI's invoke endpoint and verifies every signature
//! independently of the signer under test.
#![cfg(feature = "oci")]

mod oci_support;

/// In a module named `oci` so that `cargo test oci` selects these tests.
mod oci {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::oci_support::{
        config_dir, text, vector_key_pem, vector_public_key_der, vectors, FakeOci, TestResult,
    };
    use bytes::Bytes;
    use gateway_core::function::{FunctionCall, FunctionInvoker, Intent, InvokeError};
    use gateway_core::Refusal as _;
    use gateway_fn_backend::oci::{
        Credentials, OciError, OciFunction, OciFunctionConfig, OciHttpClient, SecretSource,
    };
    use http::{HeaderMap, HeaderValue, Method, StatusCode};

    const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaatestvectortenancy";
    const USER: &str = "ocid1.user.oc1..aaaaaaaatestvectoruser";
    const FINGERPRINT: &str = "af:23:01:28:29:a7:aa:a0:31:29:5e:2c:66:aa:68:90";

    fn api_key_credentials(
    ) -> Result<(tempfile::TempDir, Credentials), Box<dyn std::error::Error + Send + Sync>> {
        let config = format!(
            "[DEFAULT]\ntenancy = {TENANCY}\nuser = {USER}\nfingerprint = {FINGERPRINT}\n\
         key_file = key.pem\nregion = us-ashburn-1\n"
        );
        let (dir, path) = config_dir(&config, &[]);
        let credentials = Credentials::from_config_file(Some(&path), None)?;
        Ok((dir, credentials))
    }

    fn function(
        server: &FakeOci,
        id: &str,
        credentials: Credentials,
    ) -> Result<OciFunction, OciError> {
        let mut config =
            OciFunctionConfig::new(id, format!("app/{id}"), server.endpoint(), credentials);
        config.extra_roots = vec![server.ca.clone()];
        config.timeout = Duration::from_secs(10);
        OciFunction::new(config)
    }

    fn http_call(id: &str, deadline: Duration) -> FunctionCall {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
        headers.insert("x-custom", HeaderValue::from_static("foo"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("connection", HeaderValue::from_static("keep-alive"));
        FunctionCall {
            function_id: Arc::from(id),
            call_id: "01JTESTCALL0002".into(),
            deadline: Instant::now() + deadline,
            intent: Intent::HttpRequest,
            method: Method::PUT,
            request_url: "/v1/items/42?x=1".into(),
            headers,
            body: "{\"a\":1}".into(),
        }
    }

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn http_request_is_signed_mapped_and_decoded() -> TestResult {
        let server = FakeOci::start(vector_public_key_der()).await?;
        let (_dir, credentials) = api_key_credentials()?;
        let id = "ocid1.fnfunc.oc1.iad.ok";
        let f = function(&server, id, credentials)?;
        f.start().await?;

        let response = f.invoke(http_call(id, Duration::from_secs(10))).await?;
        assert_eq!(response.status, StatusCode::CREATED, "Fn-Http-Status");
        assert_eq!(
            header(&response.headers, "x-echo"),
            Some("yes"),
            "Fn-Http-H-* stripped once"
        );
        assert_eq!(header(&response.headers, "x-seen-method"), Some("PUT"));
        assert_eq!(
            header(&response.headers, "content-type"),
            Some("application/json")
        );
        for dropped in [
            "opc-request-id",
            "fn-call-id",
            "fn-fdk-version",
            "fn-http-status",
        ] {
            assert!(
                response.headers.get(dropped).is_none(),
                "{dropped} must not reach the client"
            );
        }
        assert_eq!(response.body.as_ref(), b"{\"a\":1}");

        let recorded = server.recorded();
        assert_eq!(recorded.len(), 1);
        let req = &recorded[0];
        assert_eq!(req.verified, Ok(()), "signature verified independently");
        assert_eq!(req.key_id.as_deref(), Some(text(&vectors(), "api_key_id")));
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.target,
            format!("/20181201/functions/{id}/actions/invoke")
        );
        let h = &req.headers;
        assert_eq!(header(h, "host"), Some(server.addr.to_string().as_str()));
        assert_eq!(header(h, "fn-invoke-type"), Some("sync"));
        assert_eq!(header(h, "fn-intent"), Some("httprequest"));
        assert_eq!(header(h, "fn-http-method"), Some("PUT"));
        assert_eq!(header(h, "fn-http-request-url"), Some("/v1/items/42?x=1"));
        assert_eq!(header(h, "fn-http-h-authorization"), Some("Bearer abc"));
        assert_eq!(header(h, "fn-http-h-x-custom"), Some("foo"));
        assert_eq!(header(h, "content-type"), Some("application/json"));
        assert_eq!(header(h, "content-length"), Some("7"));
        assert_eq!(header(h, "opc-request-id"), Some("01JTESTCALL0002"));
        for absent in [
            "fn-http-h-connection",
            "fn-http-h-content-type",
            "fn-call-id",
            "fn-deadline",
        ] {
            assert!(h.get(absent).is_none(), "{absent} must not be sent");
        }
        assert_eq!(req.body.as_ref(), b"{\"a\":1}");
        Ok(())
    }

    #[tokio::test]
    async fn direct_invoke_sends_only_the_body_with_a_session_token() -> TestResult {
        let server = FakeOci::start(vector_public_key_der()).await?;
        let credentials = Credentials::security_token(
            SecretSource::Value("session-token-xyz".into()),
            SecretSource::Value(vector_key_pem()),
            None,
        )?;
        let id = "ocid1.fnfunc.oc1.iad.ok";
        let mut config = OciFunctionConfig::new(id, "app/direct", server.endpoint(), credentials);
        config.extra_roots = vec![server.ca.clone()];
        config.api_version = Some("20260325".into());
        let f = OciFunction::new(config)?;

        let mut call = http_call(id, Duration::from_secs(10));
        call.intent = Intent::Invoke;
        call.headers = HeaderMap::new();
        call.body = Bytes::from_static(b"\x00\x01binary").into();
        let response = f.invoke(call).await?;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "direct invocations ignore Fn-Http-Status"
        );
        assert_eq!(response.body.as_ref(), b"\x00\x01binary");

        let recorded = server.recorded();
        let req = recorded.first().ok_or("no request")?;
        assert_eq!(req.verified, Ok(()));
        assert_eq!(req.key_id.as_deref(), Some("ST$session-token-xyz"));
        assert_eq!(
            req.target,
            format!("/20260325/functions/{id}/actions/invoke")
        );
        assert_eq!(
            header(&req.headers, "content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(header(&req.headers, "fn-invoke-type"), Some("sync"));
        for absent in [
            "fn-intent",
            "fn-http-method",
            "fn-http-request-url",
            "fn-http-h-authorization",
        ] {
            assert!(req.headers.get(absent).is_none(), "{absent}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn oci_errors_map_to_gateway_errors() -> TestResult {
        let logs = crate::oci_support::LogCapture::default();
        let _guard = logs.install();
        let server = FakeOci::start(vector_public_key_der()).await?;
        let (_dir, credentials) = api_key_credentials()?;
        let client = OciHttpClient::new(std::slice::from_ref(&server.ca))?;
        for (suffix, status, expected) in [
            ("unauth", 500, "NotInvocable"),
            ("forbidden", 500, "NotInvocable"),
            ("missing", 500, "NotInvocable"),
            ("busy", 503, "Busy"),
            ("broken", 502, "Failed"),
            ("unavailable", 502, "Failed"),
            ("fnfail", 502, "Failed"),
            ("fntimeout", 504, "Timeout"),
            ("badstatus", 502, "BadResponse"),
        ] {
            let id = format!("ocid1.fnfunc.oc1.iad.{suffix}");
            let config = OciFunctionConfig::new(
                &id,
                format!("app/{suffix}"),
                server.endpoint(),
                credentials.clone(),
            );
            let f = OciFunction::with_client(config, client.clone())?;
            let err = match f.invoke(http_call(&id, Duration::from_secs(10))).await {
                Err(err) => err,
                Ok(r) => panic!("{suffix}: got {r:?}"),
            };
            assert_eq!(err.status().as_u16(), status, "{suffix}: {err}");
            let variant = format!("{err:?}");
            assert!(variant.starts_with(expected), "{suffix}: {variant}");
            if matches!(err, InvokeError::NotInvocable { .. }) {
                let message = err.to_string();
                assert!(
                    message.contains("OCIREQ/TEST"),
                    "opc-request-id in the reason: {message}"
                );
            }
        }
        // Every request was correctly signed: the errors came from the scenario, not the signature.
        assert!(server.recorded().iter().all(|r| r.verified.is_ok()));

        // Each failure is a log line with the function, the call id, OCI's code and request id;
        // no credential or client secret ever appears.
        let text = logs.text();
        for needle in [
            "app/missing",
            "01JTESTCALL0002",
            "404 NotAuthorizedOrNotFound",
            "429 TooManyRequests",
            "502 FunctionInvokeExecutionFailed",
            "504 FunctionInvokeTimeout",
            "OCIREQ/TEST",
        ] {
            assert!(text.contains(needle), "{needle} not logged:\n{text}");
        }
        for secret in ["Bearer abc", "keyId", "signature=", "BEGIN PRIVATE KEY"] {
            assert!(!text.contains(secret), "{secret} logged:\n{text}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_server_that_never_answers_gives_504_at_the_deadline() -> TestResult {
        let server = FakeOci::start(vector_public_key_der()).await?;
        let (_dir, credentials) = api_key_credentials()?;
        let id = "ocid1.fnfunc.oc1.iad.hang";
        let f = function(&server, id, credentials)?;
        let started = Instant::now();
        let err = f
            .invoke(http_call(id, Duration::from_millis(400)))
            .await
            .err()
            .ok_or("answered")?;
        let elapsed = started.elapsed();
        assert!(matches!(err, InvokeError::Timeout { .. }), "{err:?}");
        assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(elapsed >= Duration::from_millis(350), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

        // The configured timeout caps a longer call deadline.
        let mut config =
            OciFunctionConfig::new(id, "app/hang", server.endpoint(), f.credentials().clone());
        config.extra_roots = vec![server.ca.clone()];
        config.timeout = Duration::from_millis(300);
        let capped = OciFunction::new(config)?;
        let started = Instant::now();
        let err = capped
            .invoke(http_call(id, Duration::from_secs(20)))
            .await
            .err()
            .ok_or("answered")?;
        assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(3));

        // An expired deadline never leaves the gateway.
        let before = server.recorded().len();
        let err = f
            .invoke(http_call(id, Duration::ZERO))
            .await
            .err()
            .ok_or("answered")?;
        assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(server.recorded().len(), before);
        Ok(())
    }

    #[tokio::test]
    async fn unreachable_or_untrusted_endpoints_are_502() -> TestResult {
        let (_dir, credentials) = api_key_credentials()?;
        // A port nothing listens on: bound, then released.
        let port = gateway_test_support::net::free_port();
        let id = "ocid1.fnfunc.oc1.iad.ok";
        let config = OciFunctionConfig::new(
            id,
            "app/closed",
            format!("https://127.0.0.1:{port}"),
            credentials.clone(),
        );
        let f = OciFunction::new(config)?;
        let err = f
            .invoke(http_call(id, Duration::from_secs(5)))
            .await
            .err()
            .ok_or("answered")?;
        assert!(matches!(err, InvokeError::Unavailable { .. }), "{err:?}");
        assert_eq!(err.status(), StatusCode::BAD_GATEWAY);

        // A server whose CA is not trusted (no extra roots): the TLS handshake fails.
        let server = FakeOci::start(vector_public_key_der()).await?;
        let config = OciFunctionConfig::new(id, "app/untrusted", server.endpoint(), credentials);
        let f = OciFunction::new(config)?;
        let err = f
            .invoke(http_call(id, Duration::from_secs(5)))
            .await
            .err()
            .ok_or("answered")?;
        assert_eq!(err.status(), StatusCode::BAD_GATEWAY, "{err:?}");
        assert!(server.recorded().is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn concurrent_calls_share_pooled_connections() -> TestResult {
        let server = FakeOci::start(vector_public_key_der()).await?;
        let (_dir, credentials) = api_key_credentials()?;
        let id = "ocid1.fnfunc.oc1.iad.ok";
        let f = function(&server, id, credentials)?;
        for _round in 0..3 {
            let calls = (0..8).map(|_| f.invoke(http_call(id, Duration::from_secs(10))));
            for result in futures_join(calls).await {
                assert_eq!(result?.status, StatusCode::CREATED);
            }
        }
        assert_eq!(server.recorded().len(), 24);
        assert!(server.recorded().iter().all(|r| r.verified.is_ok()));
        let connections = server.connections.lock().map(|n| *n).unwrap_or(usize::MAX);
        // At most 8 at once; later rounds reuse them (16 leaves room for a pool-return race).
        assert!(
            connections <= 16,
            "{connections} connections for 3 rounds of 8 calls"
        );
        Ok(())
    }

    /// Runs futures concurrently (no futures crate needed).
    async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            match handle.await {
                Ok(v) => out.push(v),
                Err(e) => panic!("task failed: {e}"),
            }
        }
        out
    }

    #[tokio::test]
    async fn identity_files_are_read_up_front_and_survive_a_rewrite_in_progress() -> TestResult {
        let dir =
            crate::oci_support::temp_dir_with(&[("token", "tok"), ("key.pem", &vector_key_pem())]);
        let token = SecretSource::File(dir.path().join("token"));
        let key = SecretSource::File(dir.path().join("key.pem"));
        let credentials = Credentials::security_token(token.clone(), key.clone(), None)?;
        // The files vanish (an atomic rewrite in progress): the last good values are used.
        std::fs::remove_file(dir.path().join("token"))?;
        assert_eq!(credentials.signer()?.key_id(), "ST$tok");
        let config = OciFunctionConfig::new(
            "ocid1.fnfunc.x",
            "app/x",
            "https://127.0.0.1:9",
            credentials,
        );
        OciFunction::new(config)?.start().await?;

        // Without a first good read, the identity is refused when it is built.
        let err = Credentials::security_token(token, key, None)
            .err()
            .ok_or("accepted")?;
        assert!(err.to_string().contains("token"), "{err}");
        Ok(())
    }

    #[tokio::test]
    async fn invalid_endpoints_are_refused_when_built() -> TestResult {
        let (_dir, credentials) = api_key_credentials()?;
        for endpoint in [
            "http://127.0.0.1:1",
            "127.0.0.1:1",
            "https://a.example/?q=1",
        ] {
            let config =
                OciFunctionConfig::new("ocid1.fnfunc.x", "app/x", endpoint, credentials.clone());
            let err = OciFunction::new(config).err().ok_or("accepted")?;
            assert!(
                matches!(err, OciError::InvalidEndpoint { .. }),
                "{endpoint}: {err:?}"
            );
            assert!(err.to_string().contains("app/x"), "{err}");
        }
        Ok(())
    }
}
