//! Reading the gateway's cookies from a request and writing `Set-Cookie` for them.
//!
//! Every cookie is `Secure`, `HttpOnly` and `SameSite=Lax` (sent on the top-level navigation
//! back from the identity provider, never on cross-site subrequests), scoped to the
//! deployment's path prefix, and host-only. Browsers keep about 4 KB per cookie; a session
//! with large tokens is split over `name`, `name.1`, `name.2`, … and joined again on the way
//! in.

use cookie::{Cookie, SameSite};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// The most value bytes one cookie carries; the rest of the 4 KB is name and attributes.
const CHUNK: usize = 3800;

/// The most chunks read back: a session is never anywhere near 40 KB.
const MAX_CHUNKS: usize = 10;

/// The value of the cookie `name` in `headers` (the first, if the browser sent several).
pub(crate) fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A value written with [`set_chunked`], joined again.
pub(crate) fn get_chunked(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut value = get(headers, name)?;
    for i in 1..MAX_CHUNKS {
        match get(headers, &chunk_name(name, i)) {
            Some(part) => value.push_str(&part),
            None => break,
        }
    }
    Some(value)
}

fn chunk_name(name: &str, i: usize) -> String {
    if i == 0 {
        name.to_owned()
    } else {
        format!("{name}.{i}")
    }
}

/// `Set-Cookie` for `name = value`, kept `max_age_seconds`, on `path`.
pub(crate) fn set(name: &str, value: &str, path: &str, max_age_seconds: u64) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path(path)
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age_seconds).unwrap_or(i64::MAX),
        ))
        .build();
    header(&cookie)
}

/// `Set-Cookie` that removes the cookie `name` on `path`.
pub(crate) fn clear(name: &str, path: &str) -> HeaderValue {
    set(name, "", path, 0)
}

/// `Set-Cookie` headers for `value` split over as many cookies as it needs, and removing the
/// chunks of a longer earlier value that `request` still carries.
pub(crate) fn set_chunked(
    request: &HeaderMap,
    name: &str,
    value: &str,
    path: &str,
    max_age_seconds: u64,
) -> Vec<HeaderValue> {
    let mut out: Vec<HeaderValue> = value
        .as_bytes()
        .chunks(CHUNK)
        .enumerate()
        // The value is URL-safe base64: every byte boundary is a character boundary.
        .map(|(i, part)| {
            let part = std::str::from_utf8(part).unwrap_or_default();
            set(&chunk_name(name, i), part, path, max_age_seconds)
        })
        .collect();
    let written = out.len().max(1);
    out.extend(clear_chunks_from(request, name, path, written));
    out
}

/// `Set-Cookie` headers removing every chunk of `name` that `request` carries.
pub(crate) fn clear_chunked(request: &HeaderMap, name: &str, path: &str) -> Vec<HeaderValue> {
    let mut out = vec![clear(name, path)];
    out.extend(clear_chunks_from(request, name, path, 1));
    out
}

fn clear_chunks_from(
    request: &HeaderMap,
    name: &str,
    path: &str,
    first: usize,
) -> impl Iterator<Item = HeaderValue> {
    let present: Vec<String> = (first..MAX_CHUNKS)
        .map(|i| chunk_name(name, i))
        .take_while(|n| get(request, n).is_some())
        .collect();
    let path = path.to_owned();
    present.into_iter().map(move |n| clear(&n, &path))
}

fn header(cookie: &Cookie<'_>) -> HeaderValue {
    // Names are the gateway's own, values base64 and paths deployment prefixes, which the
    // loader restricts to visible ASCII: always a valid header value.
    HeaderValue::try_from(cookie.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("apigw_invalid=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookies: &[HeaderValue]) -> HeaderMap {
        // What a browser sends back: `name=value` pairs joined with "; ".
        let pairs: Vec<String> = cookies
            .iter()
            .map(|c| {
                let text = c.to_str().expect("ascii");
                text.split(';').next().expect("pair").to_owned()
            })
            .filter(|pair| !pair.ends_with('='))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::try_from(pairs.join("; ")).expect("header"),
        );
        headers
    }

    #[test]
    fn cookies_carry_the_attributes_a_session_needs() {
        let header = set("apigw_session", "abc", "/app", 3600);
        let text = header.to_str().expect("ascii");
        for part in [
            "apigw_session=abc",
            "Path=/app",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=3600",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        assert!(clear("apigw_session", "/app")
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0"));
    }

    #[test]
    fn large_values_travel_in_chunks_and_come_back_whole() {
        let value = "x".repeat(CHUNK * 2 + 10);
        let set = set_chunked(&HeaderMap::new(), "s", &value, "/", 60);
        assert_eq!(set.len(), 3);
        let sent = request(&set);
        assert_eq!(get_chunked(&sent, "s").as_deref(), Some(value.as_str()));

        // A shorter value removes the chunks the longer one left behind.
        let again = set_chunked(&sent, "s", "short", "/", 60);
        assert_eq!(again.len(), 3);
        assert!(again[1].to_str().expect("ascii").starts_with("s.1=;"));
        assert!(again[2].to_str().expect("ascii").starts_with("s.2=;"));
        assert_eq!(clear_chunked(&sent, "s", "/").len(), 3);
    }

    #[test]
    fn cookies_are_found_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(COOKIE, HeaderValue::from_static("c=3; junk"));
        assert_eq!(get(&headers, "b").as_deref(), Some("2"));
        assert_eq!(get(&headers, "c").as_deref(), Some("3"));
        assert_eq!(get(&headers, "d"), None);
    }
}
