//! Request bodies held whole share one budget (`max_buffered_body_bytes`): a function whose
//! invoker needs the body whole (as a signed OCI invoke does) gets it only while it fits, and a
//! request whose body does not fit is answered 503 with OCI's body.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gateway_core::function::{
    FunctionCall, FunctionInvoker, FunctionResponse, InvokeError, RegisteredFunction,
};
use gateway_core::gateway::{Gateway, GatewayService};
use gateway_core::request_limits::BodyBudget;
use gateway_core::BoxError;
use gateway_core::BoxFuture;
use http::{HeaderMap, Request, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tokio::sync::{mpsc, Semaphore};
use tower::ServiceExt;

const SPEC: &str = r#"{ "routes": [ { "path": "/upload", "methods": ["POST"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..whole" } } ] }"#;

/// Reads the body whole, says how long it was, then answers once `gate` lets it.
#[derive(Debug, Clone)]
struct WholeBody {
    held: mpsc::UnboundedSender<usize>,
    gate: Arc<Semaphore>,
    answered: Arc<AtomicUsize>,
}

impl FunctionInvoker for WholeBody {
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>> {
        let this = self.clone();
        Box::pin(async move {
            let mut call = call;
            let (body, _held) = call.body.buffer().await?;
            let _ = this.held.send(body.len());
            let _permit = this.gate.acquire().await;
            this.answered.fetch_add(1, Ordering::SeqCst);
            Ok(FunctionResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::from(body.len().to_string()),
            })
        })
    }
}

struct Setup {
    service: GatewayService,
    function: WholeBody,
    held: mpsc::UnboundedReceiver<usize>,
}

fn setup(budget: u64, open: bool) -> Setup {
    let (tx, held) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(if open {
        Semaphore::MAX_PERMITS
    } else {
        0
    }));
    let function = WholeBody {
        held: tx,
        gate,
        answered: Arc::default(),
    };
    let service = Gateway::builder()
        .deployment("d", "/d", SPEC)
        .function(RegisteredFunction {
            id: Arc::from("ocid1.fnfunc.oc1..whole"),
            name: "app/whole".into(),
            timeout: Duration::from_secs(30),
            invoker: Arc::new(function.clone()),
            denied: None,
        })
        .body_budget(BodyBudget::new(budget))
        .build()
        .expect("valid");
    Setup {
        service,
        function,
        held,
    }
}

fn post<B>(body: B) -> Request<B> {
    Request::builder()
        .method("POST")
        .uri("/d/upload")
        .body(body)
        .expect("request")
}

/// `size` bytes in chunks of 100, of unknown length as a chunked upload arrives.
struct Chunked(usize);

fn chunked(size: usize) -> Chunked {
    Chunked(size)
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let chunk = self.0.min(100);
        self.0 -= chunk;
        Poll::Ready((chunk > 0).then(|| Ok(Frame::data(Bytes::from(vec![b'x'; chunk])))))
    }
}

async fn answer<B>(service: &GatewayService, req: Request<B>) -> (StatusCode, String)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let res = service.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The value of `name` in the gateway's metrics, scraped as an admin endpoint would.
fn metric(service: &GatewayService, name: &str) -> f64 {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(service.clone()));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

const REFUSED: &str = r#"{"code":503,"message":"Service Unavailable"}"#;

#[tokio::test]
async fn a_body_larger_than_the_budget_gets_503_and_is_counted() {
    let Setup {
        service, function, ..
    } = setup(1000, true);
    let (status, body) = answer(&service, post(Full::new(Bytes::from(vec![b'x'; 4000])))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, REFUSED)
    );
    let (status, body) = answer(&service, post(chunked(4000))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, REFUSED)
    );
    assert_eq!(
        function.answered.load(Ordering::SeqCst),
        0,
        "the function never got a body"
    );
    assert_eq!(metric(&service, "gateway_buffered_body_refused_total"), 2.0);
    assert_eq!(metric(&service, "gateway_buffered_body_bytes"), 0.0);

    let (status, body) = answer(&service, post(chunked(900))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "900"));
}

#[tokio::test]
async fn bodies_held_at_once_share_the_budget() {
    let Setup {
        service,
        function,
        mut held,
    } = setup(1000, false);
    let first = tokio::spawn({
        let service = service.clone();
        async move { answer(&service, post(Full::new(Bytes::from(vec![b'a'; 600])))).await }
    });
    assert_eq!(held.recv().await, Some(600), "the first body is held");
    assert_eq!(metric(&service, "gateway_buffered_body_bytes"), 600.0);

    let (status, body) = answer(&service, post(Full::new(Bytes::from(vec![b'b'; 600])))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, REFUSED)
    );

    function.gate.add_permits(Semaphore::MAX_PERMITS);
    assert_eq!(
        first.await.expect("first"),
        (StatusCode::OK, "600".to_owned())
    );
    assert_eq!(
        metric(&service, "gateway_buffered_body_bytes"),
        0.0,
        "given back"
    );
    let (status, _) = answer(&service, post(Full::new(Bytes::from(vec![b'c'; 600])))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(metric(&service, "gateway_buffered_body_refused_total"), 1.0);
}
