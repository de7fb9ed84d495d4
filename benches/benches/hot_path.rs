//! The cached hot path end to end over loopback (client → proxy → in-process upstream), with
//! the direct call to the upstream as the floor, plus token verification on a miss and a hit
//! and a credential lookup on a hit, and route parsing. `cargo bench -p binding-proxy-benches`.

use std::hint::black_box;

use binding_proxy_benches::{BenchStack, now};
use criterion::{Criterion, criterion_group, criterion_main};

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
        b.iter(|| dataplane::Route::parse(PREFIX, black_box(&documented)).expect("routes"));
    });
    group.bench_function("parse_sdk_form_with_query", |b| {
        b.iter(|| dataplane::Route::parse(PREFIX, black_box(&sdk_with_query)).expect("routes"));
    });
    group.bench_function("refuse_dot_segment", |b| {
        b.iter(|| dataplane::Route::parse(PREFIX, black_box(&hostile)).expect_err("refused"));
    });
    group.finish();
}

criterion_group!(benches, hot_path, route);
criterion_main!(benches);
