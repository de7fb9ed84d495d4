//! The cached hot path end to end over loopback (client → proxy → in-process upstream), with
//! the direct call to the upstream as the floor, plus token verification on a miss and a hit
//! and a credential lookup on a hit, route parsing, header rewriting and the scan of responses
//! for a reflected key. `cargo bench -p binding-proxy-benches`.

use std::hint::black_box;
use std::sync::Arc;

use auth::Credential;
use binding_proxy_benches::{BenchStack, now};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataplane::__private::{Scanner, redact_headers};

/// A key of the upstream's shape and length (`KEY` + 57 characters).
const KEY: &str = "KEY0190A2B3C4D5E6F7A8B9C0D1E2F3A4_ZxYwVuTsRqPoNmLkJiHgFeDcBa9";

fn hot_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stack = rt.block_on(BenchStack::start());
    let client = BenchStack::client();
    // Warm pools and caches.
    assert_eq!(
        rt.block_on(stack.get_via_proxy(&client, "/v2/balance")),
        200
    );
    assert_eq!(rt.block_on(stack.get_direct(&client, "/v2/balance")), 200);

    let mut group = c.benchmark_group("request_over_loopback");
    group.bench_function("direct_to_upstream", |b| {
        b.iter(|| rt.block_on(stack.get_direct(&client, "/v2/balance")));
    });
    group.bench_function("through_proxy_cached", |b| {
        b.iter(|| rt.block_on(stack.get_via_proxy(&client, "/v2/balance")));
    });
    group.finish();

    let mut group = c.benchmark_group("auth");
    let t = now();
    group.bench_function("verify_token_hit", |b| {
        b.iter(|| {
            stack
                .verifier
                .verify(black_box(&stack.token), t)
                .expect("valid")
        });
    });
    let cold: Vec<String> = rt.block_on(async {
        let mut tokens = Vec::with_capacity(2_000);
        for _ in 0..2_000 {
            let issued = stack
                .issuer
                .issue(
                    &stack.binding,
                    auth::IssueRequest {
                        function_id: None,
                        ttl_secs: None,
                        scopes: None,
                    },
                    t,
                )
                .await
                .expect("mint");
            tokens.push(issued.token);
        }
        tokens
    });
    let mut next = 0usize;
    group.bench_function("verify_token_miss", |b| {
        b.iter(|| {
            // Each token is new to the cache until the list wraps; invalidate to keep misses.
            next = (next + 1) % cold.len();
            if next == 0 {
                stack.verifier.invalidate_all();
            }
            stack
                .verifier
                .verify(black_box(&cold[next]), t)
                .expect("valid")
        });
    });
    group.bench_function("credential_lookup_hit", |b| {
        b.iter(|| {
            rt.block_on(stack.credentials.get(black_box(&stack.binding_id), t))
                .expect("credential")
        });
    });
    group.finish();
}

/// `Route::parse` on the forms a request target takes: the documented `{prefix}/v2/{path}`,
/// the SDK form `{prefix}/{path}` with a query, and a hostile target refused before routing.
fn route(c: &mut Criterion) {
    const PREFIX: &str = dataplane::DEFAULT_PATH_PREFIX;
    let documented = format!("{PREFIX}/v2/balance");
    let sdk_with_query = format!("{PREFIX}/messages?filter%5Bstatus%5D=queued&page%5Bsize%5D=20");
    let hostile = format!("{PREFIX}/v2/%2e%2e/api_keys");
    let mut group = c.benchmark_group("route");
    group.bench_function("parse_documented_form", |b| {
        b.iter(|| {
            dataplane::__private::Route::parse(PREFIX, black_box(&documented)).expect("routes")
        });
    });
    group.bench_function("parse_sdk_form_with_query", |b| {
        b.iter(|| {
            dataplane::__private::Route::parse(PREFIX, black_box(&sdk_with_query)).expect("routes")
        });
    });
    group.bench_function("refuse_dot_segment", |b| {
        b.iter(|| {
            dataplane::__private::Route::parse(PREFIX, black_box(&hostile)).expect_err("refused")
        });
    });
    group.finish();
}

/// The header work of one cached request: the request's headers rewritten for the upstream
/// (hop-by-hop headers out, `Host` out, `Authorization` swapped, request id set) and the
/// response's hop-by-hop headers stripped. Headers as the Python SDK sends them, and as nginx
/// answers. Each iteration clones the map first, as hyper hands the proxy a fresh one per
/// request; `clone_only` measures that clone alone.
fn headers(c: &mut Criterion) {
    let request = header_map(&[
        ("host", "binding-proxy.internal:8080"),
        ("accept-encoding", "gzip, deflate"),
        ("accept", "application/json"),
        ("connection", "keep-alive"),
        ("user-agent", "Telnyx/Python 4.0.0"),
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", "4.0.0"),
        ("x-stainless-retry-count", "0"),
        ("content-type", "application/json"),
        (
            "authorization",
            "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.e30.c2ln",
        ),
    ]);
    let response = header_map(&[
        ("server", "nginx/1.22.1"),
        ("date", "Mon, 23 Nov 2026 11:57:45 GMT"),
        ("content-type", "application/json"),
        ("content-length", "46"),
        ("connection", "keep-alive"),
    ]);
    let key = http::HeaderValue::from_static("Bearer KEY0123456789ABCDEF");
    let request_id = http::HeaderValue::from_static("e047f2fb-9310-456d-b57b-4c272d368332");
    let credential = credential(KEY);
    let mut group = c.benchmark_group("headers");
    group.bench_function("clone_only", |b| {
        b.iter(|| black_box(request.clone()));
    });
    group.bench_function("rewrite_request", |b| {
        b.iter(|| {
            let mut headers = request.clone();
            dataplane::__private::rewrite_request_headers(
                &mut headers,
                key.clone(),
                request_id.clone(),
            );
            headers
        });
    });
    let client = dataplane::__private::ClientAddr::new(([10, 1, 2, 3], 40000).into());
    group.bench_function("rewrite_request_and_forwarded", |b| {
        b.iter(|| {
            let mut headers = request.clone();
            dataplane::__private::rewrite_request_headers(
                &mut headers,
                key.clone(),
                request_id.clone(),
            );
            dataplane::__private::rewrite_forwarded(
                &mut headers,
                dataplane::ForwardedHeaders::Replace,
                &client,
            );
            headers
        });
    });
    group.bench_function("strip_response", |b| {
        b.iter(|| {
            let mut headers = response.clone();
            dataplane::__private::strip_hop_by_hop(&mut headers);
            headers
        });
    });
    group.bench_function("strip_and_redact_response", |b| {
        b.iter(|| {
            let mut headers = response.clone();
            dataplane::__private::strip_hop_by_hop(&mut headers);
            redact_headers(&mut headers, credential.key_patterns());
            headers
        });
    });
    group.finish();
}

/// The scan of a response body for the organization's key (`dataplane::__private::Scanner`,
/// as every upstream body gets it): a small JSON body whole (the cached request's case, the
/// scanner's set-up included), and 1 MiB of JSON text and of binary bytes in 64 KiB chunks,
/// and of JSON text in 1 KiB chunks (each chunk's held-back tail costs more per byte there).
fn redact(c: &mut Criterion) {
    let credential = credential(KEY);
    let small = Bytes::from_static(
        br#"{"data":{"balance":"300.00","currency":"USD","record_type":"balance"}}"#,
    );
    let mut group = c.benchmark_group("redact");
    group.bench_function("scan_small_json_body", |b| {
        b.iter(|| {
            let mut scanner = Scanner::new(Arc::clone(&credential));
            scanner.push(black_box(small.clone()), true)
        });
    });
    group.finish();

    const MIB: usize = 1024 * 1024;
    let record = br#"{"record_type":"message","id":"40385f64-5717-4562-b3fc-2c963f66afa6","from":{"phone_number":"+18445550001","carrier":"Telnyx"},"to":[{"phone_number":"+18665550001","status":"queued"}],"text":"Hello, world! Your code is 424242.","encoding":"GSM-7","parts":1,"cost":{"amount":"0.0051","currency":"USD"}},"#;
    let json: Bytes = record
        .iter()
        .copied()
        .cycle()
        .take(MIB)
        .collect::<Vec<u8>>()
        .into();
    let binary: Bytes = (0..MIB)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let mut group = c.benchmark_group("redact_per_mib");
    group.throughput(Throughput::Bytes(MIB as u64));
    for (name, body, chunk) in [
        ("json_64_kib_chunks", &json, 64 * 1024),
        ("binary_64_kib_chunks", &binary, 64 * 1024),
        ("json_1_kib_chunks", &json, 1024),
    ] {
        let chunks: Vec<Bytes> = (0..body.len())
            .step_by(chunk)
            .map(|at| body.slice(at..(at + chunk).min(body.len())))
            .collect();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut scanner = Scanner::new(Arc::clone(&credential));
                let last = chunks.len() - 1;
                for (index, chunk) in chunks.iter().enumerate() {
                    black_box(scanner.push(chunk.clone(), index == last));
                }
                black_box(scanner.finish())
            });
        });
    }
    group.finish();
}

/// A cached credential for a binding whose upstream key is `key`.
fn credential(key: &str) -> Arc<Credential> {
    let record = store::BindingCredential {
        binding: store::Binding {
            id: "b-bench".to_owned(),
            org_id: "org-bench".to_owned(),
            generation: 1,
            scopes: Vec::new(),
            rate_limit: None,
            api_key_hint: String::new(),
            previous_generation: None,
            previous_generation_expires_at: None,
            created_at: 0,
            updated_at: 0,
        },
        api_key: store::Secret::from(key.to_owned()),
        revoked_jtis: Vec::new(),
    };
    Arc::new(Credential::from_store(record).expect("a key that is a header value"))
}

fn header_map(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            )
        })
        .collect()
}

criterion_group!(benches, hot_path, route, headers, redact);
criterion_main!(benches);
