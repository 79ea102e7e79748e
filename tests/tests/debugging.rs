//! `debug_port`: a local function under a debugger an IDE can attach to (Python: debugpy from
//! PyPI, spoken to with the Debug Adapter Protocol; Node: `--inspect`, its HTTP endpoint), still
//! serving its route.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gateway_tests::net::free_port;
use gateway_tests::{repo_root, request, Gateway, TempDir};

const SPEC: &str = r#"{ "routes": [
  { "path": "/py", "methods": ["POST"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..py" } },
  { "path": "/node", "methods": ["POST"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..node" } } ] }"#;

/// Writes the spec and a gateway.toml serving it with `functions` (TOML function tables).
fn config(dir: &TempDir, functions: &str) -> String {
    dir.write("spec.json", SPEC);
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("function-cache");
    let head = format!(
        "[gateway]\ncache_dir = \"{}\"\n\n[[deployment]]\nname = \"d\"\npath_prefix = \"/d\"\n\
         specification = \"spec.json\"\n\n[[application]]\nname = \"app\"\n",
        cache.display()
    );
    dir.write("gateway.toml", &format!("{head}{functions}"))
}

fn echo_dir() -> String {
    repo_root()
        .join("tests/functions/echo")
        .to_string_lossy()
        .into_owned()
}

/// Connects to the debugger's port, retrying while the process starts.
fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .expect("timeout");
                return stream;
            }
            Err(e) if Instant::now() > deadline => panic!("nothing listens on {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Reads until `needle` has arrived (or the stream ends).
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn functions_run_under_a_debugger_and_still_answer() {
    let dir = TempDir::new("debug");
    let (py_port, node_port) = (free_port(), free_port());
    let node = repo_root().join("examples/hello/functions/node-hello");
    let config = config(
        &dir,
        &format!(
            r#"
[[application.function]]
name = "py"
id = "ocid1.fnfunc.oc1..py"
source = "{py}"
debug_port = {py_port}

[[application.function]]
name = "node"
id = "ocid1.fnfunc.oc1..node"
source = "{node}"
debug_port = {node_port}
"#,
            py = echo_dir(),
            node = node.display(),
        ),
    );
    let gw = Gateway::serve(&["--config", &config]);

    // debugpy answers the Debug Adapter Protocol's first request, as it would an IDE's.
    let mut dap = connect(py_port);
    let initialize = r#"{"seq":1,"type":"request","command":"initialize","arguments":{"adapterID":"gateway-test","clientID":"gateway-test"}}"#;
    write!(
        dap,
        "Content-Length: {}\r\n\r\n{initialize}",
        initialize.len()
    )
    .expect("send");
    let answer = read_until(&mut dap, r#""command": "initialize""#);
    assert!(answer.contains(r#""success": true"#), "{answer}");
    drop(dap);

    // Node's inspector describes itself over HTTP.
    let mut inspector = connect(node_port);
    write!(
        inspector,
        "GET /json/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let answer = read_until(&mut inspector, "}");
    assert!(answer.contains("\"Browser\": \"node.js/"), "{answer}");

    let res = request(gw.addr, "POST", "/d/py", &[], br#"{"x":1}"#);
    assert_eq!(res.status, 200, "{}", res.text());
    let res = request(gw.addr, "POST", "/d/node", &[], br#"{"name":"Ann"}"#);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), serde_json::json!({"message": "Hello Ann"}));
}

#[test]
fn debug_port_is_refused_where_it_cannot_work() {
    let dir = TempDir::new("debug-refused");
    let config = config(
        &dir,
        &format!(
            r#"
[[application.function]]
name = "py"
id = "ocid1.fnfunc.oc1..py"
source = "{py}"
debug_port = 5678

[[application.function]]
name = "node"
id = "ocid1.fnfunc.oc1..node"
invoke_endpoint = "https://functions.example.invalid"
debug_port = 5679

[[application.function]]
name = "again"
id = "ocid1.fnfunc.oc1..again"
source = "{py}"
debug_port = 5678
"#,
            py = echo_dir(),
        ),
    );
    let (code, out, err) = gateway_tests::run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("function app/node: debug_port is for a local function (source)"),
        "{out}"
    );
    assert!(
        out.contains("application[0].function[2].debug_port: function app/again: app/py is debugged on port 5678 already"),
        "{out}"
    );
}
