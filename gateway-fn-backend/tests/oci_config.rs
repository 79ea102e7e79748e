//! The OCI config file and credentials: profiles, `[DEFAULT]` inheritance as the SDKs do it,
//! missing and malformed keys, relative `key_file`, session tokens, resource principals.
#![cfg(feature = "oci")]

mod oci_support;

/// In a module named `oci` so that `cargo test oci` selects these tests.
mod oci {
    use std::collections::HashMap;
    use std::path::Path;

    use crate::oci_support::{
        config_dir, temp_dir_with, text, vector_key_pem, vectors, TestResult,
    };
    use gateway_fn_backend::oci::config::expand_tilde;
    use gateway_fn_backend::oci::{
        ConfigError, Credentials, CredentialsError, KeyError, OciConfigFile, SecretSource,
    };

    const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaatestvectortenancy";
    const USER: &str = "ocid1.user.oc1..aaaaaaaatestvectoruser";
    const FINGERPRINT: &str = "af:23:01:28:29:a7:aa:a0:31:29:5e:2c:66:aa:68:90";

    fn parse(text: &str) -> Result<OciConfigFile, ConfigError> {
        OciConfigFile::parse(text, Path::new("/etc/gw/oci/config"))
    }

    #[test]
    fn profiles_inherit_default_and_override_it() -> TestResult {
        let file = parse(
            "\u{feff}# comment\n\
         ; another comment\n\
         [DEFAULT]\n\
         TENANCY = ocid1.tenancy.default\n\
         region=us-ashburn-1\n\
         key_file = ~/.oci/key.pem\n\
         \n\
         [ADMIN]\n\
         user: ocid1.user.admin\n\
         region = eu-frankfurt-1   \n\
         note = a # not a comment\n\
         [other]\n\
         user = ocid1.user.other\n\
         \x20 continued\n",
        )?;
        assert_eq!(file.profile_names().collect::<Vec<_>>(), ["ADMIN", "other"]);

        let admin = file.profile("ADMIN")?;
        assert_eq!(
            admin.get("tenancy"),
            Some("ocid1.tenancy.default"),
            "inherited, key case-insensitive"
        );
        assert_eq!(
            admin.get("Region"),
            Some("eu-frankfurt-1"),
            "own value wins, trimmed"
        );
        assert_eq!(admin.get("user"), Some("ocid1.user.admin"), "`:` separator");
        assert_eq!(
            admin.get("note"),
            Some("a # not a comment"),
            "no inline comments"
        );
        let other = file.profile("other")?;
        assert_eq!(other.get("region"), Some("us-ashburn-1"));
        assert_eq!(other.get("user"), Some("ocid1.user.other\ncontinued"));

        let default = file.profile("DEFAULT")?;
        assert_eq!(default.get("region"), Some("us-ashburn-1"));
        assert_eq!(default.get("user"), None);

        // Profile names are case-sensitive, as in configparser.
        let err = file.profile("admin").err().ok_or("found")?;
        let message = err.to_string();
        assert!(
            message.contains("[admin]") && message.contains("/etc/gw/oci/config"),
            "{message}"
        );
        assert!(
            message.contains("ADMIN") && message.contains("other"),
            "lists profiles: {message}"
        );
        Ok(())
    }

    #[test]
    fn paths_expand_tilde_and_resolve_relative_to_the_config_file() -> TestResult {
        let file = parse("[DEFAULT]\nkey_file = keys/api.pem\nsecurity_token_file=/abs/token\nhome_file = ~/k.pem\n")?;
        let profile = file.profile("DEFAULT")?;
        assert_eq!(
            profile.path("key_file"),
            Some("/etc/gw/oci/keys/api.pem".into())
        );
        assert_eq!(
            profile.path("security_token_file"),
            Some("/abs/token".into())
        );
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            assert_eq!(
                profile.path("home_file"),
                Some(Path::new(&home).join("k.pem"))
            );
            assert_eq!(expand_tilde(Path::new("~")), Path::new(&home));
        }
        assert_eq!(expand_tilde(Path::new("~user/x")), Path::new("~user/x"));
        Ok(())
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        for (text, line, needle) in [
            ("user = x\n", 1, "before the first"),
            ("[A]\nuser = x\nuser = y\n", 3, "twice"),
            ("[A]\n[A]\n", 2, "twice"),
            ("[DEFAULT]\n[DEFAULT]\n", 2, "twice"),
            ("[A]\njust words\n", 2, "key = value"),
            ("[]\n", 1, "empty"),
            ("[A]\n= value\n", 2, "without a key"),
        ] {
            match parse(text) {
                Err(ConfigError::Syntax {
                    path,
                    line: got,
                    reason,
                }) => {
                    assert_eq!(path, Path::new("/etc/gw/oci/config"));
                    assert_eq!(got, line, "{text:?}");
                    assert!(reason.contains(needle), "{text:?}: {reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    fn api_key_config(extra: &str) -> String {
        format!(
            "[DEFAULT]\nregion = us-ashburn-1\ntenancy = {TENANCY}\n\n[GW]\nuser = {USER}\n\
         fingerprint = {FINGERPRINT}\nkey_file = key.pem\n{extra}"
        )
    }

    #[test]
    fn api_key_profile_signs_with_the_sdk_key_id() -> TestResult {
        let (_dir, path) = config_dir(&api_key_config(""), &[]);
        let credentials = Credentials::from_config_file(Some(&path), Some("GW"))?;
        assert_eq!(
            credentials.signer()?.key_id(),
            text(&vectors(), "api_key_id")
        );
        assert_eq!(credentials.region(), Some("us-ashburn-1"));
        assert!(!credentials.is_security_token());
        assert!(
            credentials.describe().contains("[GW]"),
            "{}",
            credentials.describe()
        );

        // Upper-case fingerprints are the same key; the key id uses OCI's lower-case form.
        let (_dir, path) = config_dir(
            &api_key_config("").replace(FINGERPRINT, &FINGERPRINT.to_uppercase()),
            &[],
        );
        let credentials = Credentials::from_config_file(Some(&path), Some("GW"))?;
        assert_eq!(
            credentials.signer()?.key_id(),
            text(&vectors(), "api_key_id")
        );
        Ok(())
    }

    #[test]
    fn missing_and_malformed_keys_are_named() -> TestResult {
        for key in ["user", "fingerprint", "key_file"] {
            let config = api_key_config("")
                .lines()
                .filter(|l| !l.starts_with(key))
                .collect::<Vec<_>>()
                .join("\n");
            let (_dir, path) = config_dir(&config, &[]);
            let err = Credentials::from_config_file(Some(&path), Some("GW"))
                .err()
                .ok_or("accepted")?;
            match &err {
                CredentialsError::Config(ConfigError::MissingKey {
                    path: p,
                    profile,
                    key: k,
                }) => {
                    assert_eq!(p, &path);
                    assert_eq!(profile, "GW");
                    assert_eq!(*k, key);
                }
                other => panic!("{key}: {other:?}"),
            }
            let message = err.to_string();
            assert!(
                message.contains(key) && message.contains("[GW]") && message.contains("config"),
                "{message}"
            );
        }
        // tenancy only in DEFAULT: dropping it from DEFAULT makes it missing in GW.
        let config = api_key_config("").replace(&format!("tenancy = {TENANCY}\n"), "");
        let (_dir, path) = config_dir(&config, &[]);
        let err = Credentials::from_config_file(Some(&path), Some("GW"))
            .err()
            .ok_or("accepted")?;
        assert!(err.to_string().contains("`tenancy`"), "{err}");

        let config = api_key_config("").replace(FINGERPRINT, "af:23:01");
        let (_dir, path) = config_dir(&config, &[]);
        let err = Credentials::from_config_file(Some(&path), Some("GW"))
            .err()
            .ok_or("accepted")?;
        assert!(
            matches!(
                &err,
                CredentialsError::Config(ConfigError::Malformed {
                    key: "fingerprint",
                    ..
                })
            ),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn wrong_fingerprint_unreadable_or_encrypted_key_are_clear_errors() -> TestResult {
        let wrong = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff";
        let (_dir, path) = config_dir(&api_key_config("").replace(FINGERPRINT, wrong), &[]);
        let err = Credentials::from_config_file(Some(&path), Some("GW"))
            .err()
            .ok_or("accepted")?;
        match &err {
            CredentialsError::FingerprintMismatch {
                configured, actual, ..
            } => {
                assert_eq!(configured, wrong);
                assert_eq!(actual, FINGERPRINT);
            }
            other => panic!("{other:?}"),
        }

        let (_dir, path) = config_dir(&api_key_config("").replace("key.pem", "nope.pem"), &[]);
        let err = Credentials::from_config_file(Some(&path), Some("GW"))
            .err()
            .ok_or("accepted")?;
        let message = err.to_string();
        assert!(
            message.contains("nope.pem")
                && message.contains("key_file")
                && message.contains("[GW]"),
            "{message}"
        );

        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let config = api_key_config("pass_phrase = hunter2-secret\n").replace("key.pem", "enc.pem");
        let (_dir, path) = config_dir(&config, &[("enc.pem", encrypted)]);
        let err = Credentials::from_config_file(Some(&path), Some("GW"))
            .err()
            .ok_or("accepted")?;
        assert!(
            matches!(
                &err,
                CredentialsError::Key {
                    source: KeyError::Encrypted,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("enc.pem") && message.contains("encrypted"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "no secrets in errors");
        let profile = OciConfigFile::load(&path)?.profile("GW")?;
        assert!(
            !format!("{profile:?}").contains("hunter2"),
            "no secrets in Debug"
        );

        let err = Credentials::from_config_file(Some(&path.with_file_name("absent")), None)
            .err()
            .ok_or("accepted")?;
        assert!(err.to_string().contains("absent"), "{err}");
        Ok(())
    }

    #[test]
    fn security_token_file_gives_st_key_ids_and_follows_refreshes() -> TestResult {
        let config = "[SESSION]\nregion = us-phoenix-1\nkey_file = key.pem\nsecurity_token_file = token\nfingerprint = 00\n";
        let (dir, path) = config_dir(config, &[("token", "token-one\n")]);
        let credentials = Credentials::from_config_file(Some(&path), Some("SESSION"))?;
        assert!(credentials.is_security_token());
        assert_eq!(credentials.signer()?.key_id(), "ST$token-one");
        assert!(!format!("{credentials:?}").contains("token-one"));

        // `oci session refresh` rewrites the file; the next signature uses the new token.
        std::fs::write(dir.path().join("token"), "token-number-two")?;
        assert_eq!(credentials.signer()?.key_id(), "ST$token-number-two");
        // A broken rewrite keeps the last good token.
        std::fs::write(dir.path().join("token"), "   \n")?;
        assert_eq!(credentials.signer()?.key_id(), "ST$token-number-two");

        let (_dir, path) = config_dir(config, &[]);
        let err = Credentials::from_config_file(Some(&path), Some("SESSION"))
            .err()
            .ok_or("accepted")?;
        let message = err.to_string();
        assert!(
            message.contains("security_token_file") && message.contains("[SESSION]"),
            "{message}"
        );
        Ok(())
    }

    fn rp_vars(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn resource_principal_from_values_and_files() -> TestResult {
        let pem = vector_key_pem();
        let credentials = Credentials::resource_principal_from(rp_vars(&[
            ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2".into()),
            ("OCI_RESOURCE_PRINCIPAL_RPST", "rpst-inline".into()),
            ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem.clone()),
            ("OCI_RESOURCE_PRINCIPAL_REGION", "phx".into()),
        ]))?;
        assert_eq!(credentials.signer()?.key_id(), "ST$rpst-inline");
        assert_eq!(
            credentials.region(),
            Some("us-phoenix-1"),
            "short codes expanded"
        );
        assert!(!format!("{credentials:?}").contains("rpst-inline"));

        let dir = temp_dir_with(&[("rpst", "rpst-from-file\n"), ("key.pem", &pem)]);
        let credentials = Credentials::resource_principal_from(rp_vars(&[
            ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2".into()),
            (
                "OCI_RESOURCE_PRINCIPAL_RPST",
                dir.path().join("rpst").display().to_string(),
            ),
            (
                "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
                dir.path().join("key.pem").display().to_string(),
            ),
            ("OCI_RESOURCE_PRINCIPAL_REGION", "eu-frankfurt-1".into()),
        ]))?;
        assert_eq!(credentials.signer()?.key_id(), "ST$rpst-from-file");
        assert_eq!(credentials.region(), Some("eu-frankfurt-1"));
        assert!(
            credentials.describe().contains("file"),
            "{}",
            credentials.describe()
        );
        std::fs::write(dir.path().join("rpst"), "rpst-rotated-token")?;
        assert_eq!(credentials.signer()?.key_id(), "ST$rpst-rotated-token");
        Ok(())
    }

    #[test]
    fn resource_principal_errors_name_the_variable() {
        let pem = vector_key_pem();
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (vec![], "OCI_RESOURCE_PRINCIPAL_VERSION"),
            (
                vec![("OCI_RESOURCE_PRINCIPAL_VERSION", "2.1".into())],
                "OCI_RESOURCE_PRINCIPAL_VERSION",
            ),
            (
                vec![
                    ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2".into()),
                    ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem.clone()),
                ],
                "OCI_RESOURCE_PRINCIPAL_RPST",
            ),
            (
                vec![
                    ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2".into()),
                    ("OCI_RESOURCE_PRINCIPAL_RPST", "t".into()),
                ],
                "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
            ),
            (
                vec![
                    ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2".into()),
                    ("OCI_RESOURCE_PRINCIPAL_RPST", "/nonexistent/rpst".into()),
                    ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem.clone()),
                ],
                "OCI_RESOURCE_PRINCIPAL_RPST",
            ),
            (
                vec![
                    ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2".into()),
                    ("OCI_RESOURCE_PRINCIPAL_RPST", "t".into()),
                    ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", "not a pem".into()),
                ],
                "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
            ),
        ];
        for (vars, needle) in cases {
            let err = match Credentials::resource_principal_from(rp_vars(&vars)) {
                Err(err) => err,
                Ok(c) => panic!("{needle}: accepted {c:?}"),
            };
            let message = err.to_string();
            assert!(message.contains(needle), "{message}");
            assert!(
                !message.contains("BEGIN PRIVATE KEY"),
                "no key material in errors: {message}"
            );
        }
    }

    #[test]
    fn security_token_constructor_accepts_values_and_files() -> TestResult {
        let pem = vector_key_pem();
        let credentials = Credentials::security_token(
            SecretSource::Value("tok".into()),
            SecretSource::Value(pem.clone()),
            None,
        )?;
        assert_eq!(credentials.signer()?.key_id(), "ST$tok");
        assert_eq!(
            SecretSource::value_or_absolute_path("/a/b"),
            SecretSource::File("/a/b".into())
        );
        assert_eq!(
            SecretSource::value_or_absolute_path("a/b"),
            SecretSource::Value("a/b".into())
        );
        assert!(!format!("{:?}", SecretSource::Value("hidden".into())).contains("hidden"));
        Ok(())
    }
}
