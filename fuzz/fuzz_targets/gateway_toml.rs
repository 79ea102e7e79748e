//! The gateway's own config file, `gateway.toml`, parsed as `gateway serve --config` and
//! `gateway validate --config` read it (from text: nothing is read from disk).
//!
//! Checked besides "no panic": errors name the file; every path the config holds comes out
//! absolute (relative ones resolved against the file's directory), so that nothing depends on
//! the working directory of whatever uses it.

#![no_main]

use std::path::Path;

use gateway_bin::config::Destination;
use gateway_bin::Config;
use libfuzzer_sys::fuzz_target;

const DIR: &str = "/etc/gateway";

fuzz_target!(|data: &[u8]| {
    // The binary reads the file as UTF-8 text and refuses anything else before this point.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new(DIR).join("gateway.toml");
    let config = match Config::parse(text, &file) {
        Ok(config) => config,
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.starts_with("/etc/gateway/gateway.toml"),
                "{message}"
            );
            return;
        }
    };
    let resolved = |path: &Path| {
        assert!(path.is_absolute(), "{} is not resolved", path.display());
    };
    resolved(
        config
            .gateway
            .cache_dir
            .as_deref()
            .expect("a cache directory"),
    );
    for deployment in &config.deployments {
        resolved(&deployment.specification);
    }
    if let Destination::File(file) = &config.gateway.log.access {
        resolved(file);
    }
    if let Some(tls) = &config.tls {
        resolved(&tls.cert);
        resolved(&tls.key);
        tls.client_ca.iter().for_each(|ca| resolved(ca));
    }
    for function in config.applications.iter().flat_map(|a| &a.functions) {
        function.source.iter().for_each(|s| resolved(s));
        function.oci_config.iter().for_each(|c| resolved(c));
    }
    let _ = config.gateway.limits.request();
    let _ = config.gateway.method_mismatch_status.get();
});
