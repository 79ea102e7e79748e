//! Router lookups: `gateway_core::router::Router` against matchit 0.9, the fastest known Rust
//! path router, on the same routes in the same run.
//!
//! * `github`: the 130-route GitHub API set from matchit's own bench, every path looked up
//!   once per iteration (divide by 130 for one lookup).
//! * `scaling`: one lookup among 10 to 10,000 generated routes.
//! * `miss`: a 404 for both, and a 405 (method mismatch) for ours, which matchit cannot say.
//! * `normalize`: the request-path normalisation that precedes every lookup.
//!
//! Run: `cargo bench -p gateway-benches --bench router -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gateway_core::router::{
    normalize_path, Lookup, MethodSet, PathTemplate, Router, RouterBuilder,
};
use http::Method;

/// The GitHub API route set used by httprouter and matchit. Parameter syntax `{p}` is the
/// same in OCI templates and matchit, so one list serves both. matchit's copy has a few
/// typos that glue a parameter to a literal (`/members{p2}`); OCI forbids partial-segment
/// parameters, so they are written as whole segments here, as in the real API.
const GITHUB: [&str; 130] = [
    "/authorizations",
    "/authorizations/{id}",
    "/applications/{client_id}/tokens/{access_token}",
    "/events",
    "/repos/{owner}/{repo}/events",
    "/networks/{owner}/{repo}/events",
    "/orgs/{org}/events",
    "/users/{user}/received_events",
    "/users/{user}/received_events/public",
    "/users/{user}/events",
    "/users/{user}/events/public",
    "/users/{user}/events/orgs/{org}",
    "/feeds",
    "/notifications",
    "/repos/{owner}/{repo}/notifications",
    "/notifications/threads/{id}",
    "/notifications/threads/{id}/subscription",
    "/repos/{owner}/{repo}/stargazers",
    "/users/{user}/starred",
    "/user/starred",
    "/user/starred/{owner}/{repo}",
    "/repos/{owner}/{repo}/subscribers",
    "/users/{user}/subscriptions",
    "/user/subscriptions",
    "/repos/{owner}/{repo}/subscription",
    "/user/subscriptions/{owner}/{repo}",
    "/users/{user}/gists",
    "/gists",
    "/gists/{id}",
    "/gists/{id}/star",
    "/repos/{owner}/{repo}/git/blobs/{sha}",
    "/repos/{owner}/{repo}/git/commits/{sha}",
    "/repos/{owner}/{repo}/git/refs",
    "/repos/{owner}/{repo}/git/tags/{sha}",
    "/repos/{owner}/{repo}/git/trees/{sha}",
    "/issues",
    "/user/issues",
    "/orgs/{org}/issues",
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/{number}",
    "/repos/{owner}/{repo}/assignees",
    "/repos/{owner}/{repo}/assignees/{assignee}",
    "/repos/{owner}/{repo}/issues/{number}/comments",
    "/repos/{owner}/{repo}/issues/{number}/events",
    "/repos/{owner}/{repo}/labels",
    "/repos/{owner}/{repo}/labels/{name}",
    "/repos/{owner}/{repo}/issues/{number}/labels",
    "/repos/{owner}/{repo}/milestones/{number}/labels",
    "/repos/{owner}/{repo}/milestones/",
    "/repos/{owner}/{repo}/milestones/{number}",
    "/emojis",
    "/gitignore/templates",
    "/gitignore/templates/{name}",
    "/meta",
    "/rate_limit",
    "/users/{user}/orgs",
    "/user/orgs",
    "/orgs/{org}",
    "/orgs/{org}/members",
    "/orgs/{org}/members/{user}",
    "/orgs/{org}/public_members",
    "/orgs/{org}/public_members/{user}",
    "/orgs/{org}/teams",
    "/teams/{id}",
    "/teams/{id}/members",
    "/teams/{id}/members/{user}",
    "/teams/{id}/repos",
    "/teams/{id}/repos/{owner}/{repo}",
    "/user/teams",
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{number}",
    "/repos/{owner}/{repo}/pulls/{number}/commits",
    "/repos/{owner}/{repo}/pulls/{number}/files",
    "/repos/{owner}/{repo}/pulls/{number}/merge",
    "/repos/{owner}/{repo}/pulls/{number}/comments",
    "/user/repos",
    "/users/{user}/repos",
    "/orgs/{org}/repos",
    "/repositories",
    "/repos/{owner}/{repo}",
    "/repos/{owner}/{repo}/contributors",
    "/repos/{owner}/{repo}/languages",
    "/repos/{owner}/{repo}/teams",
    "/repos/{owner}/{repo}/tags",
    "/repos/{owner}/{repo}/branches",
    "/repos/{owner}/{repo}/branches/{branch}",
    "/repos/{owner}/{repo}/collaborators",
    "/repos/{owner}/{repo}/collaborators/{user}",
    "/repos/{owner}/{repo}/comments",
    "/repos/{owner}/{repo}/commits/{sha}/comments",
    "/repos/{owner}/{repo}/commits",
    "/repos/{owner}/{repo}/commits/{sha}",
    "/repos/{owner}/{repo}/readme",
    "/repos/{owner}/{repo}/keys",
    "/repos/{owner}/{repo}/keys/{id}",
    "/repos/{owner}/{repo}/downloads",
    "/repos/{owner}/{repo}/downloads/{id}",
    "/repos/{owner}/{repo}/forks",
    "/repos/{owner}/{repo}/hooks",
    "/repos/{owner}/{repo}/hooks/{id}",
    "/repos/{owner}/{repo}/releases",
    "/repos/{owner}/{repo}/releases/{id}",
    "/repos/{owner}/{repo}/releases/{id}/assets",
    "/repos/{owner}/{repo}/stats/contributors",
    "/repos/{owner}/{repo}/stats/commit_activity",
    "/repos/{owner}/{repo}/stats/code_frequency",
    "/repos/{owner}/{repo}/stats/participation",
    "/repos/{owner}/{repo}/stats/punch_card",
    "/repos/{owner}/{repo}/statuses/{ref}",
    "/search/repositories",
    "/search/code",
    "/search/issues",
    "/search/users",
    "/legacy/issues/search/{owner}/{repository}/{state}/{keyword}",
    "/legacy/repos/search/{keyword}",
    "/legacy/user/search/{keyword}",
    "/legacy/user/email/{email}",
    "/users/{user}",
    "/user",
    "/users",
    "/user/emails",
    "/users/{user}/followers",
    "/user/followers",
    "/users/{user}/following",
    "/user/following",
    "/user/following/{user}",
    "/users/{user}/following/{target}",
    "/users/{user}/keys",
    "/user/keys",
    "/user/keys/{id}",
];

/// A request path for a template: each `{name}` becomes the literal `name`, as matchit's
/// bench does (short parameter values).
fn request_path(template: &str) -> String {
    template.replace(['{', '}'], "")
}

fn ours<'a>(templates: impl IntoIterator<Item = &'a str>) -> Router<usize> {
    let mut builder = RouterBuilder::new();
    for (i, t) in templates.into_iter().enumerate() {
        let template = PathTemplate::parse(t).expect("valid OCI template");
        builder
            .insert(template, MethodSet::GET, i)
            .expect("no conflict");
    }
    builder.build()
}

fn theirs<'a>(templates: impl IntoIterator<Item = &'a str>) -> matchit::Router<usize> {
    let mut router = matchit::Router::new();
    for (i, t) in templates.into_iter().enumerate() {
        router.insert(t, i).expect("valid matchit route");
    }
    router
}

fn github(c: &mut Criterion) {
    let paths: Vec<String> = GITHUB.iter().map(|t| request_path(t)).collect();
    let our_router = ours(GITHUB);
    let matchit = theirs(GITHUB);

    let mut group = c.benchmark_group("github");
    group.bench_function("gateway", |b| {
        b.iter(|| {
            for path in &paths {
                let found = our_router.at(black_box(&Method::GET), black_box(path));
                assert!(matches!(black_box(found), Lookup::Found(_)));
            }
        });
    });
    group.bench_function("matchit", |b| {
        b.iter(|| {
            for path in &paths {
                let found = matchit.at(black_box(path));
                assert!(black_box(found).is_ok());
            }
        });
    });
    group.finish();
}

/// `n` routes under `/api/g{group}/r{k}`: half literal leaves, half with two parameters.
fn generated(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (g, k) = (i / 8, i % 8);
            if k < 4 {
                format!("/api/g{g}/r{k}")
            } else {
                format!("/api/g{g}/r{k}/{{id}}/items/{{item}}")
            }
        })
        .collect()
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling");
    for n in [10usize, 100, 1_000, 10_000] {
        let routes = generated(n);
        let our_router = ours(routes.iter().map(String::as_str));
        let matchit = theirs(routes.iter().map(String::as_str));
        // A parameterised route in the middle of the set.
        let path = format!("/api/g{}/r5/42/items/7", n / 2 / 8);

        group.bench_with_input(BenchmarkId::new("gateway", n), &path, |b, path| {
            b.iter(|| {
                let found = our_router.at(black_box(&Method::GET), black_box(path));
                assert!(matches!(black_box(found), Lookup::Found(_)));
            });
        });
        group.bench_with_input(BenchmarkId::new("matchit", n), &path, |b, path| {
            b.iter(|| {
                let found = matchit.at(black_box(path));
                assert!(black_box(found).is_ok());
            });
        });
    }
    group.finish();
}

fn miss(c: &mut Criterion) {
    let our_router = ours(GITHUB);
    let matchit = theirs(GITHUB);
    // Goes deep under /repos/{owner}/{repo}/ before failing, so both routers backtrack.
    let missing = "/repos/rust-lang/rust/issues/42/nonexistent";

    let mut group = c.benchmark_group("miss");
    group.bench_function("gateway 404", |b| {
        b.iter(|| {
            let found = our_router.at(black_box(&Method::GET), black_box(missing));
            assert!(matches!(black_box(found), Lookup::NotFound));
        });
    });
    group.bench_function("matchit 404", |b| {
        b.iter(|| {
            let found = matchit.at(black_box(missing));
            assert!(black_box(found).is_err());
        });
    });
    group.bench_function("gateway 405", |b| {
        b.iter(|| {
            let found = our_router.at(
                black_box(&Method::POST),
                black_box("/repos/rust-lang/rust/issues/42/comments"),
            );
            assert!(matches!(black_box(found), Lookup::MethodNotAllowed(_)));
        });
    });
    group.finish();
}

fn normalize(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalize");
    let canonical = "/repos/rust-lang/rust/issues/42/comments";
    group.bench_function("canonical (borrowed)", |b| {
        b.iter(|| normalize_path(black_box(canonical)).map(|p| black_box(p).len()));
    });
    let escaped = "/repos/rust%2Dlang/caf%c3%a9/issues/%34%32/comments";
    group.bench_function("escaped (owned)", |b| {
        b.iter(|| normalize_path(black_box(escaped)).map(|p| black_box(p).len()));
    });
    group.finish();
}

criterion_group!(benches, github, scaling, miss, normalize);
criterion_main!(benches);
