-- wrk script: approximately fixed request rate. wrk has no rate limit and wrk2, oha and
-- vegeta are not in Debian bookworm, so each connection waits BENCH_DELAY_MS before sending
-- its next request: rate ≈ connections × 1000 / (delay + latency). This is still a closed
-- loop (a slow response delays the next request; coordinated omission is not corrected),
-- so the p99 is an under-estimate compared with wrk2's open loop. The Authorization header
-- comes from wrk's -H flag.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "10")

function delay()
  return delay_ms
end
