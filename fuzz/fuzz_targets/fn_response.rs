//! A function's answer on the http-stream socket: the raw HTTP/1.1 response, its head parsed
//! as hyper's client parses it (httparse), then mapped to what the client sees by
//! `protocol::decode_response`, for both intents.
//!
//! Checked besides "no panic": the socket status decides the outcome as the contract says
//! (200 maps, 502 is a function error, 504 a timeout, anything else breaks the protocol); a
//! mapped response keeps the body, never carries the FDK's framing or hop-by-hop headers, and
//! has a status a client can be given; through a route, every header the client sees came
//! from an `Fn-Http-H-` header or is `Content-Type`.

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_core::function::Intent;
use gateway_fn_backend::protocol::{
    decode_response, is_hop_by_hop, DecodeError, FN_HTTP_HEADER_PREFIX,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use libfuzzer_sys::fuzz_target;

/// hyper's default limit on response headers.
const MAX_HEADERS: usize = 100;

fuzz_target!(|data: &[u8]| {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut raw);
    let Ok(httparse::Status::Complete(head_len)) = response.parse(data) else {
        return;
    };
    // hyper refuses a response whose status or headers do not convert.
    let Some(Ok(status)) = response.code.map(StatusCode::from_u16) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for h in response.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return;
        };
        headers.append(name, value);
    }
    let body = Bytes::copy_from_slice(&data[head_len..]);

    for intent in [Intent::HttpRequest, Intent::Invoke] {
        let decoded = decode_response(status, &headers, body.clone(), intent);
        match (status.as_u16(), decoded) {
            (200, Ok(out)) => {
                assert_eq!(out.body, body);
                assert!((200..=599).contains(&out.status.as_u16()), "{}", out.status);
                for name in out.headers.keys() {
                    // Through a route, Content-Type passes before anything else is looked at.
                    let passes = intent == Intent::HttpRequest && name == header::CONTENT_TYPE;
                    assert!(
                        name != header::CONTENT_LENGTH
                            && (passes || !is_hop_by_hop(name, &headers)),
                        "{name} passed: {out:?}"
                    );
                }
                if intent == Intent::Invoke {
                    assert_eq!(out.status, StatusCode::OK);
                } else {
                    for name in out.headers.keys() {
                        let prefixed = format!("{FN_HTTP_HEADER_PREFIX}{name}");
                        assert!(
                            name == header::CONTENT_TYPE || headers.contains_key(prefixed.as_str()),
                            "{name} came from nowhere: {headers:?}"
                        );
                    }
                }
            }
            (200, Err(e @ DecodeError::InvalidHttpStatus(_))) => {
                assert_eq!(intent, Intent::HttpRequest);
                check_error(e);
            }
            (502, Err(e @ DecodeError::FunctionFailed { .. }))
            | (504, Err(e @ DecodeError::FunctionTimedOut)) => {
                assert!(!e.replaces_process());
                check_error(e);
            }
            (code, Err(e @ DecodeError::InvalidStatus(_))) if ![200, 502, 504].contains(&code) => {
                assert!(e.replaces_process());
                check_error(e);
            }
            (code, other) => panic!("socket status {code} gave {other:?}"),
        }
    }
});

fn check_error(e: DecodeError) {
    if let DecodeError::FunctionFailed { detail } = &e {
        // At most 2 KiB of the body is quoted, and an ellipsis.
        assert!(detail.len() <= 2048 + '…'.len_utf8(), "{}", detail.len());
    }
    let _ = e.to_string();
    let _ = e.into_invoke_error(Arc::from("fuzz"), Duration::from_secs(30));
}
