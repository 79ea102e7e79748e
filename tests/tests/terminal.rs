//! `gateway serve` watched by a person: stderr is a terminal (a pseudo-terminal from
//! util-linux `script`), so every request gets one compact line there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gateway_tests::{gateway_bin, request, TempDir};

const SPEC: &str = r#"{ "routes": [
  { "path": "/hello/{name}", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } } ] }"#;

const WAIT: Duration = Duration::from_secs(20);

/// The gateway under `script`, and the lines of its terminal as they come.
struct InTerminal {
    script: Child,
    lines: mpsc::Receiver<String>,
}

impl InTerminal {
    fn serve(spec: &str, extra: &str) -> InTerminal {
        let command = format!(
            "exec {} serve {spec} --path-prefix /v1 --listen 127.0.0.1:0 --no-watch {extra}",
            gateway_bin().display()
        );
        let mut script = Command::new("script")
            .args(["--quiet", "--return", "--command", &command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux script runs");
        let out = script.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line.trim_end_matches('\r').to_owned()).is_err() {
                    return;
                }
            }
        });
        InTerminal { script, lines }
    }

    /// Reads lines until one satisfies `wanted`; returns it and every line read before.
    fn until(&self, wanted: impl Fn(&str) -> bool) -> (String, Vec<String>) {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(WAIT) {
                Ok(line) if wanted(&line) => return (line, seen),
                Ok(line) => seen.push(line),
                Err(_) => panic!("no such line; the terminal showed {seen:#?}"),
            }
        }
    }

    fn address(&self) -> String {
        let (line, _) = self.until(|l| l.starts_with("listening on http://"));
        line["listening on http://".len()..].to_owned()
    }
}

impl InTerminal {
    /// Stops the gateway with SIGTERM (`script` runs it as its child and ends with it).
    fn stop(&mut self) {
        let children = format!("/proc/{0}/task/{0}/children", self.script.id());
        if let Ok(pids) = std::fs::read_to_string(children) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-TERM", pid]).status();
            }
        }
        let _ = self.script.wait();
    }

    /// Stops the gateway and returns every line the terminal showed that was not read yet.
    fn finish(mut self) -> Vec<String> {
        self.stop();
        self.lines.iter().collect()
    }
}

impl Drop for InTerminal {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn each_request_gets_one_compact_line_on_a_terminal() {
    let dir = TempDir::new("terminal");
    let spec = dir.write("spec.json", SPEC);
    let gw = InTerminal::serve(&spec, "");
    let addr = gw.address().parse().expect("an address");

    assert_eq!(
        request(addr, "GET", "/v1/hello/ann?x=1", &[], b"").status,
        200
    );
    let (line, _) = gw.until(|l| l.starts_with("GET /v1/hello/ann?x=1 "));
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[2], "200", "{line}");
    assert!(fields[3].ends_with("ms"), "{line}");
    assert_eq!(
        &fields[4..6],
        ["route=/v1/hello/{name}", "backend=STOCK_RESPONSE_BACKEND"],
        "{line}"
    );

    assert_eq!(request(addr, "GET", "/elsewhere", &[], b"").status, 404);
    let (line, _) = gw.until(|l| l.starts_with("GET /elsewhere "));
    assert!(
        line.contains(" 404 ") && line.ends_with(" route=-"),
        "{line}"
    );
}

#[test]
fn quiet_shows_no_request_lines_and_no_info_logs() {
    let dir = TempDir::new("terminal-quiet");
    let spec = dir.write("spec.json", SPEC);
    let gw = InTerminal::serve(&spec, "--quiet");
    let addr = gw.address().parse().expect("an address");
    assert_eq!(request(addr, "GET", "/v1/hello/ann", &[], b"").status, 200);
    assert_eq!(request(addr, "GET", "/elsewhere", &[], b"").status, 404);
    let shown = gw.finish();
    assert!(
        !shown
            .iter()
            .any(|l| l.starts_with("GET ") || l.contains("INFO")),
        "{shown:#?}"
    );
}
