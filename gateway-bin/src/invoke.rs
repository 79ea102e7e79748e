//! `gateway invoke`: call one function directly, as `fn invoke` does.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method};

use gateway_core::function::{FunctionCall, Intent};
use gateway_core::request_id::RequestId;

use crate::cli::InvokeArgs;
use crate::config::Config;
use crate::functions;
use crate::output::out;

pub(crate) async fn run(args: InvokeArgs) -> Result<ExitCode, String> {
    let path = args.config.as_deref().unwrap_or(Path::new("gateway.toml"));
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let body = input(args.data.as_deref())?;
    let function = functions::prepare_one(&config, &args.function).await?;

    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&args.content_type)
            .map_err(|_| format!("bad content type {:?}", args.content_type))?,
    );
    let call = FunctionCall {
        function_id: function.id.clone(),
        call_id: RequestId::generate().as_str().to_owned(),
        deadline: Instant::now() + function.timeout,
        intent: Intent::Invoke,
        method: Method::POST,
        request_url: String::new(),
        headers,
        body: body.into(),
    };
    let result = function.invoker.invoke(call).await;
    function.invoker.shutdown().await;
    match result {
        Ok(answer) => {
            out(&String::from_utf8_lossy(&answer.body))?;
            if !answer.body.ends_with(b"\n") && std::io::stdout().is_terminal() {
                out("\n")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(format!("{e} ({})", gateway_core::Refusal::status(&e))),
    }
}

/// The invocation's input: `--data TEXT`, `--data @FILE`, or standard input when piped.
fn input(data: Option<&str>) -> Result<Bytes, String> {
    match data {
        Some(file) if file.starts_with('@') => std::fs::read(&file[1..])
            .map(Bytes::from)
            .map_err(|e| format!("cannot read {}: {e}", &file[1..])),
        Some(text) => Ok(Bytes::copy_from_slice(text.as_bytes())),
        None if !std::io::stdin().is_terminal() => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(Bytes::from(buf))
        }
        None => Ok(Bytes::new()),
    }
}
