//! A deployment specification's JSON, validated and compiled as `gateway validate SPEC.json`
//! does: every problem reported, nothing panics, and a gateway is built exactly when no
//! problem is an error.

#![no_main]

use std::sync::{Arc, LazyLock};

use gateway_auth::Authenticators;
use gateway_core::gateway::{compile, DeploymentSource, GatewayOptions, Resources};
use gateway_core::spec::load_spec;
use libfuzzer_sys::fuzz_target;

/// What `gateway validate` compiles with: the real authenticators, no functions. Built once:
/// the HTTP client and the caches are not what is under test.
static SETUP: LazyLock<(tokio::runtime::Runtime, Resources)> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let resources = {
        let _entered = runtime.enter();
        Resources {
            authenticators: Arc::new(Authenticators::new()),
            ..Resources::default()
        }
    };
    (runtime, resources)
});

fuzz_target!(|data: &[u8]| {
    // The binary reads the file as UTF-8 text and refuses anything else before this point.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (runtime, resources) = &*SETUP;
    let _entered = runtime.enter();
    let source = DeploymentSource {
        name: "fuzz".to_owned(),
        path_prefix: "/fuzz".to_owned(),
        specification: text.to_owned(),
        origin: "fuzz.json".to_owned(),
    };
    let (gateway, report) = compile(&[source], &GatewayOptions::default(), resources);
    assert_eq!(gateway.is_some(), !report.has_errors(), "{report}");

    // What `gateway validate` prints, as text and as JSON.
    let _ = report.to_string();
    for deployment in &report.deployments {
        serde_json::to_string(&deployment.diagnostics).expect("diagnostics serialize");
    }
    // What `gateway routes` prints.
    if let Some(gateway) = &gateway {
        for route in gateway.routes() {
            let _ = route.public_path();
            serde_json::to_string(route).expect("a route serializes");
        }
    }

    // The model alone: a specification exactly when no error, and an error the model finds
    // is never lost by the compiler.
    let load = load_spec(text);
    assert_eq!(load.spec.is_some(), !load.diagnostics.has_errors());
    if load.diagnostics.has_errors() {
        assert!(report.has_errors(), "{report}");
    }
});
