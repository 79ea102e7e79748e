//! `CUSTOM_AUTHENTICATION`: an authorizer function decides (reference 4.1.1, contract in 5).
//!
//! Input, as the function's whole invocation body (`Intent::Invoke`):
//! * single-argument (`tokenHeader` / `tokenQueryParam`): `{"type":"TOKEN","token":"<raw value>"}`;
//! * multi-argument (`parameters`): `{"type":"USER_DEFINED","data":{…}}`, one key per argument,
//!   an array for repeated headers or parameters, the key omitted when the variable is absent.
//!
//! Output: see [`answer`]. Results are cached per credential ([`crate::cache`]), and shared
//! with other replicas through Redis when configured ([`crate::shared`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Map, Value};

use gateway_core::auth::{AuthOutcome, Authenticator};
use gateway_core::function::{FunctionCall, Intent, RegisteredFunction};
use gateway_core::vars::{Selector, Table, TableSet};
use gateway_core::BoxFuture;
use gateway_core::RequestContext;

use crate::answer::{self, Verdict};
use crate::cache::{cache_key, CacheKey, ResultCache};
use crate::shared::{SharedResults, StoredAnswer};
use crate::token::{Extracted, TokenLocation};

/// How the function's input is built.
#[derive(Debug)]
enum Input {
    /// The raw token from a header or query parameter.
    Token(TokenLocation),
    /// Named context variables.
    Arguments(Vec<Argument>),
}

/// One multi-argument parameter.
#[derive(Debug)]
struct Argument {
    name: String,
    selector: Selector,
    /// Part of the cache key: not `request.body`, and listed in `cacheKey` when it is given.
    in_key: bool,
}

/// One request's function input, and the credential text its cache key is made from (`None`:
/// do not cache).
struct Prepared {
    input: Value,
    key: Option<Vec<u8>>,
}

/// Where an authenticator keeps its results.
#[derive(Debug, Clone)]
pub(crate) struct Caches {
    /// Most results the in-memory cache holds.
    pub(crate) capacity: usize,
    /// The cache shared with other replicas, asked on a local miss.
    pub(crate) shared: Option<SharedResults>,
}

/// Calls an authorizer function, with a result cache.
#[derive(Debug)]
pub struct CustomAuthenticator {
    function: RegisteredFunction,
    input: Input,
    cache: Arc<ResultCache<Verdict>>,
    shared: Option<SharedResults>,
    needs_body: bool,
}

impl CustomAuthenticator {
    /// A single-argument authorizer reading its token at `location`.
    pub(crate) fn single(
        function: RegisteredFunction,
        location: TokenLocation,
        caches: Caches,
    ) -> Self {
        Self {
            function,
            input: Input::Token(location),
            cache: Arc::new(ResultCache::new(caches.capacity)),
            shared: caches.shared,
            needs_body: false,
        }
    }

    /// A multi-argument authorizer. `parameters` maps argument names to bare context
    /// variables; `cache_key` (possibly empty) narrows the cache key to those names. A
    /// variable that does not parse is returned as `Err((name, message))`.
    pub(crate) fn multi(
        function: RegisteredFunction,
        parameters: &BTreeMap<String, String>,
        cache_key_names: &[String],
        caches: Caches,
    ) -> Result<Self, (String, String)> {
        let mut arguments = Vec::with_capacity(parameters.len());
        for (name, variable) in parameters {
            let selector = Selector::parse(variable, TableSet::AUTHORIZER_PARAMETERS)
                .map_err(|e| (name.clone(), e.to_string()))?;
            let in_key = selector.table() != Table::Body
                && (cache_key_names.is_empty() || cache_key_names.contains(name));
            arguments.push(Argument {
                name: name.clone(),
                selector,
                in_key,
            });
        }
        let needs_body = arguments.iter().any(|a| a.selector.table() == Table::Body);
        Ok(Self {
            function,
            input: Input::Arguments(arguments),
            cache: Arc::new(ResultCache::new(caches.capacity)),
            shared: caches.shared,
            needs_body,
        })
    }

    /// The function input and its cache key; `None` when the request carries no credentials
    /// at all, `Err` when what it carries cannot be a credential.
    fn input(
        &self,
        req: &Parts,
        ctx: &RequestContext,
        body: Option<&Bytes>,
    ) -> Result<Option<Prepared>, &'static str> {
        match &self.input {
            Input::Token(location) => match location.extract(req) {
                Extracted::Missing => Ok(None),
                Extracted::Invalid(reason) => Err(reason),
                Extracted::Token(token) => {
                    let mut key = b"token\0".to_vec();
                    key.extend_from_slice(token.as_bytes());
                    let input = serde_json::json!({ "type": "TOKEN", "token": token });
                    Ok(Some(Prepared {
                        input,
                        key: Some(key),
                    }))
                }
            },
            Input::Arguments(arguments) => {
                let mut data = Map::new();
                let mut key = Map::new();
                for arg in arguments {
                    let mut values = argument_values(&arg.selector, req, ctx, body);
                    let value = match values.len() {
                        0 => continue,
                        1 => Value::String(values.remove(0)),
                        _ => Value::Array(values.into_iter().map(Value::String).collect()),
                    };
                    if arg.in_key {
                        key.insert(arg.name.clone(), value.clone());
                    }
                    data.insert(arg.name.clone(), value);
                }
                if data.is_empty() {
                    return Ok(None);
                }
                // A key of nothing would let every request share one result: don't cache.
                let key = (!key.is_empty()).then(|| {
                    let mut text = b"arguments\0".to_vec();
                    text.extend_from_slice(Value::Object(key).to_string().as_bytes());
                    text
                });
                let input = serde_json::json!({ "type": "USER_DEFINED", "data": data });
                Ok(Some(Prepared { input, key }))
            }
        }
    }
}

/// Every value of an argument's variable: all values of a repeated header or query
/// parameter, in order; one value for the other tables.
fn argument_values(
    selector: &Selector,
    req: &Parts,
    ctx: &RequestContext,
    body: Option<&Bytes>,
) -> Vec<String> {
    let key = selector.var().key().unwrap_or_default();
    match selector.table() {
        Table::Headers => req
            .headers
            .get_all(key)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect(),
        Table::Query => req
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == key).then(|| v.to_owned())
            })
            .collect(),
        Table::Body => body
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .into_iter()
            .collect(),
        _ => selector
            .value(&ctx.vars(&req.headers))
            .map(str::to_owned)
            .into_iter()
            .collect(),
    }
}

impl Authenticator for CustomAuthenticator {
    fn authenticate(
        &self,
        req: &Parts,
        ctx: &RequestContext,
        body: Option<&Bytes>,
    ) -> BoxFuture<'static, AuthOutcome> {
        let Prepared { input, key } = match self.input(req, ctx, body) {
            Ok(Some(prepared)) => prepared,
            Ok(None) => return Box::pin(std::future::ready(AuthOutcome::NoCredentials)),
            Err(reason) => {
                return Box::pin(std::future::ready(AuthOutcome::Rejected(
                    gateway_core::auth::Rejection::new(reason),
                )))
            }
        };
        if let Some(reason) = &self.function.denied {
            // IAM does not allow the gateway to invoke the authorizer: OCI's uniform 500.
            let reason = format!(
                "the gateway may not invoke {}: {reason}",
                self.function.name
            );
            return Box::pin(std::future::ready(AuthOutcome::Unavailable(reason)));
        }
        let function = self.function.clone();
        let cache = self.cache.clone();
        let shared = self.shared.clone();
        let call_id = ctx.request_id().as_str().to_owned();
        Box::pin(async move {
            let input = Bytes::from(input.to_string());
            let verdict = match key {
                Some(key) => {
                    let key = cache_key(&key);
                    cache
                        .get_or_compute(key, || {
                            decide(&function, input, call_id, key, shared.as_ref())
                        })
                        .await
                }
                None => verdict_of(&invoke(&function, input, call_id).await),
            };
            verdict.into_outcome()
        })
    }

    fn needs_body(&self) -> bool {
        self.needs_body
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(HeaderValue::from_static("Bearer"))
    }
}

/// Extra time granted past the function's own timeout before the gateway stops waiting, in
/// case an invoker does not enforce the deadline itself.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// The verdict for a credential missing from the local cache, and how long to keep it: from
/// the shared cache when another replica has it, else from the function (stored there for the
/// others).
async fn decide(
    function: &RegisteredFunction,
    input: Bytes,
    call_id: String,
    key: CacheKey,
    shared: Option<&SharedResults>,
) -> (Verdict, Option<Duration>) {
    if let Some(shared) = shared {
        if let Some((stored, left)) = shared.get(&function.id, &key).await {
            let verdict = answer::read(stored.status, &stored.body);
            if let Some(ttl) = verdict.ttl() {
                return (verdict, Some(ttl.min(left)));
            }
        }
    }
    let answered = invoke(function, input, call_id).await;
    let verdict = verdict_of(&answered);
    let ttl = verdict.ttl();
    if let (Some(shared), Ok(stored), Some(ttl)) = (shared, &answered, ttl) {
        shared.put(&function.id, &key, stored, ttl).await;
    }
    (verdict, ttl)
}

fn verdict_of(answered: &Result<StoredAnswer, String>) -> Verdict {
    match answered {
        Ok(stored) => answer::read(stored.status, &stored.body),
        Err(reason) => Verdict::Fail(reason.clone()),
    }
}

/// Invokes the function: its answer, or why there is none.
async fn invoke(
    function: &RegisteredFunction,
    input: Bytes,
    call_id: String,
) -> Result<StoredAnswer, String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let call = FunctionCall {
        function_id: function.id.clone(),
        call_id,
        deadline: Instant::now() + function.timeout,
        intent: Intent::Invoke,
        method: Method::POST,
        request_url: String::new(),
        headers,
        body: input.into(),
    };
    let result = tokio::time::timeout(
        function.timeout + DEADLINE_GRACE,
        function.invoker.invoke(call),
    )
    .await;
    match result {
        Err(_) => Err(format!(
            "authorizer {} did not answer within {:?}",
            function.id, function.timeout
        )),
        Ok(Err(e)) => Err(format!("authorizer invocation failed: {e}")),
        Ok(Ok(response)) => Ok(StoredAnswer {
            status: response.status,
            body: response.body,
        }),
    }
}
