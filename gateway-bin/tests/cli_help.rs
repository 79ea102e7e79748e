//! The command line describes itself. (Being an integration test of this package also makes
//! `cargo test --workspace` build the `gateway` binary that the end-to-end tests run.)

use std::process::Command;

fn gateway(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(args)
        .output()
        .expect("run gateway");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn help_lists_every_command() {
    let (ok, text) = gateway(&["--help"]);
    assert!(ok, "{text}");
    for command in ["serve", "validate", "routes", "invoke", "explain"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

#[test]
fn version_is_the_crate_version() {
    let (ok, text) = gateway(&["--version"]);
    assert!(ok);
    assert_eq!(
        text.trim(),
        format!("gateway {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_with_status_two() {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["serve", "--no-such-flag"])
        .output()
        .expect("run gateway");
    assert_eq!(out.status.code(), Some(2));
}
