//! The gateway's pieces used one at a time, without a deployment: OCI's router, the JWT
//! authenticator as a tower layer in front of a service of one's own, and a function invoker
//! called directly.
//!
//! ```sh
//! cargo run -p gateway-bin --example pieces
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

use gateway_auth::Authenticators;
use gateway_core::auth::{
    compile_authentication, AuthenticationLayer, DeploymentAuth, RouteAccess,
};
use gateway_core::diagnostics::Diagnostics;
use gateway_core::function::{FunctionCall, FunctionInvoker, FunctionRegistry, Intent};
use gateway_core::router::{normalize_path, Lookup, MethodSet, PathTemplate, RouterBuilder};
use gateway_core::spec::load_spec;
use gateway_core::{Body, ErrorResponseLayer, GatewayError};
use gateway_fn_backend::ServiceFunction;

/// A deployment's `authentication` alone: JWTs signed by one static RSA key.
const JWT_POLICY: &str = r#"{ "requestPolicies": { "authentication": {
  "type": "JWT_AUTHENTICATION", "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
  "issuers": ["https://idp.example.com/"], "audiences": ["orders"],
  "publicKeys": { "type": "STATIC_KEYS", "keys": [ { "format": "JSON_WEB_KEY", "kid": "k1",
    "kty": "RSA", "alg": "RS256", "use": "sig", "e": "AQAB", "n": "tORoChivbqGvGbUBUyljy39J5k-3OJbVU7uXqyrkXmM63QrgTqJ67BxDpKu4pnSDp_8TR8pSZ0Ipgqs61lFnrBLwPOMDfxigm6DiHDg7gU9e88PTA8c_4MB41ZSOyLVi14-ICVp3mPF92H6buFtyhn77Bcn_yuOEpvF3gj-MiRh2lNild7pJ3_QnbDnklzkDeh0sTs1Xj07cxANxQEOfiLLwtXuWke2956uM3FrQ8CK19G5LvOoUadcvsrs_UUtwBZE3qwBXjWMkQI8v0ox5Y1cowGShCKoS8b1hdDq104LU2uKFIefqS13U_zr40VsLwe957DdImN0aXzppcYwedw" } ] } } },
  "routes": [] }"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    route_with_oci_templates()?;
    guard_a_service_with_jwt().await?;
    call_a_function().await?;
    Ok(())
}

/// The router: OCI path templates, methods, and the path's canonical spelling.
fn route_with_oci_templates() -> Result<(), Box<dyn std::error::Error>> {
    let mut routes = RouterBuilder::new();
    routes.insert(
        PathTemplate::parse("/orders/{id}")?,
        MethodSet::GET,
        "order",
    )?;
    routes.insert(
        PathTemplate::parse("/files/{path*}")?,
        MethodSet::ANY,
        "files",
    )?;
    let routes = routes.build();

    let path = normalize_path("/orders/%34%32")?; // "/orders/42"
    if let Lookup::Found(found) = routes.at(&Method::GET, &path) {
        let id = found.params.get(0).and_then(|range| path.get(range));
        println!("router: {path} is {} with id {id:?}", found.value);
    }
    Ok(())
}

/// The JWT authenticator in front of a service of one's own. Layers refuse with a
/// `GatewayError`; `ErrorResponseLayer` at the edge turns it into OCI's answer.
async fn guard_a_service_with_jwt() -> Result<(), Box<dyn std::error::Error>> {
    let load = load_spec(JWT_POLICY);
    let spec = load.spec.ok_or_else(|| load.diagnostics.to_string())?;
    let mut diags = Diagnostics::new();
    let authenticators = Authenticators::new();
    let DeploymentAuth::Enforced(policy) =
        compile_authentication(&spec, &authenticators, &FunctionRegistry::new(), &mut diags)
    else {
        return Err(diags.to_string().into());
    };
    let service = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .layer(AuthenticationLayer::new(
            policy,
            &RouteAccess::AuthenticationOnly,
        ))
        .service_fn(|_req: Request<Body>| async {
            Ok::<_, GatewayError>(Response::new(Body::full("the protected answer")))
        });

    for token in [None, Some("Bearer not-a-jwt")] {
        let mut req = Request::get("/orders/42");
        if let Some(token) = token {
            req = req.header("authorization", token);
        }
        let res = service.clone().oneshot(req.body(Body::empty())?).await?;
        let status = res.status();
        let challenge = res.headers().get("www-authenticate").cloned();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
        println!(
            "jwt: {token:?} -> {status} {challenge:?} {}",
            String::from_utf8_lossy(&body.to_bytes())
        );
    }
    Ok(())
}

/// A function invoker called directly: here an in-process service, with the same contract as
/// a local FDK process (`gateway_fn_backend::local`) or a signed call to OCI Functions.
async fn call_a_function() -> Result<(), Box<dyn std::error::Error>> {
    let upper = tower::service_fn(|req: Request<Bytes>| async move {
        let text = String::from_utf8_lossy(req.body()).to_uppercase();
        Ok::<_, Infallible>(Response::new(Bytes::from(text)))
    });
    let invoker = Arc::new(ServiceFunction::new("demo/upper", upper));
    let answer = invoker
        .invoke(FunctionCall {
            function_id: Arc::from("ocid1.fnfunc.oc1..upper"),
            call_id: "call-1".to_owned(),
            deadline: Instant::now() + Duration::from_secs(5),
            intent: Intent::Invoke,
            method: Method::POST,
            request_url: "/".to_owned(),
            headers: HeaderMap::new(),
            body: "hello".into(),
        })
        .await?;
    println!(
        "function: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok(())
}
