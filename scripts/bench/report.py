#!/usr/bin/env python3
"""Turns the raw outputs of scripts/bench-peers into markdown (stdlib only).

usage:
  report.py slowest RUNS.tsv         median saturation req/s of the slowest cached subject
  report.py latency H2LOAD.log       "p50 p99 count" (seconds) of an h2load --log-file
  report.py noise RUNS.tsv           "noisy spread scenario subject": the widest spread of one
                                     subject's rounds (max − min over median requests/s), and
                                     1 when it is above NOISY
  report.py report OUT_DIR           prints the "Peer benchmark" section
  report.py write REPORT.md DOC.md   replaces (or appends) that section in DOC.md

OUT_DIR holds:
  meta.txt       NAME=VALUE lines (versions, durations, sizes)
  runs.tsv       scenario, subject, round, CPU ticks used by the subject (user + kernel),
                 output file, kernel ticks (absent in older runs); the file is wrk's output
                 (*.wrk) or h2load's (*.h2load, with FILE.lat from `latency`)
  proofs.md      rows of the proofs table
  rss.tsv        subject, idle|loaded, KiB
  paced.txt      rate, requests/s per connection, connections (fixed-rate scenario)
  orgs.txt       NAME=VALUE lines of the 10,000-organizations scenario; orgs.cold.txt holds
                 curl's "<status> <seconds>" per request of its cold first pass
  transfers.tsv  direction, subject, round, bytes, seconds, CPU ticks, RSS before, peak RSS
                 (VmHWM) and RSS after (KiB)
Every file but meta.txt may be missing or empty (scenarios left out with --only).
"""
import math
import re
import statistics
import sys
from pathlib import Path

SECTION = "## Peer benchmark"
# Rounds of one subject spreading by more than this (of their median) make a run noisy.
NOISY = 0.10
PROXIES = ("nginx", "haproxy-jwt", "binding-proxy", "binding-proxy-cold")


def seconds(value: str) -> float:
    """wrk's "1.23ms" / "850.00us" / "1.02s" → seconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        raise ValueError(f"not a wrk duration: {value}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_wrk(text: str) -> dict:
    out = {"non2xx": 0, "socket_errors": 0}
    out["requests"] = int(re.search(r"(\d+) requests in", text).group(1))
    out["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    for pct in ("50", "99"):
        out[f"p{pct}"] = seconds(re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(g) for g in m.groups())
    return out


def percentile(sorted_values: list, p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def h2load_latency(log: Path) -> str:
    """h2load --log-file rows: start (µs since epoch), status, µs to the end of the response."""
    durations = sorted(
        int(cols[2]) / 1e6
        for cols in (line.split("\t") for line in log.read_text().splitlines())
        if len(cols) >= 3
    )
    return f"{percentile(durations, 50):.6f} {percentile(durations, 99):.6f} {len(durations)}\n"


def parse_h2load(text: str, lat: str) -> dict:
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if not m:
        raise ValueError("not an h2load output: " + text[-300:])
    total, _started, done, _ok, _failed, errored, timeout = (int(g) for g in m.groups())
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    p50, p99, _count = lat.split()
    return {
        "requests": done,
        "rps": float(re.search(r"^finished in [\d.]+\w*, ([\d.]+) req/s", text, re.M).group(1)),
        "p50": float(p50),
        "p99": float(p99),
        "non2xx": sum(int(g) for g in codes.groups()[1:]),
        # Requests that got no answer at all (refused, reset, timed out, never completed).
        "socket_errors": errored + timeout + (total - done),
    }


def load_runs(runs_tsv: Path, clk_tck: int = 100) -> dict:
    """(scenario, subject) → list of runs, each the load generator's numbers plus CPU seconds."""
    runs: dict = {}
    if not runs_tsv.exists():
        return runs
    for line in runs_tsv.read_text().splitlines():
        # Older runs have no sixth column (kernel ticks).
        scenario, subject, _round, ticks, out_file, *sys_ticks = line.split("\t")
        path = Path(out_file)
        if path.suffix == ".h2load":
            run = parse_h2load(path.read_text(), Path(out_file + ".lat").read_text())
        else:
            run = parse_wrk(path.read_text())
        run["cpu_s"] = int(ticks) / clk_tck
        run["sys_s"] = int(sys_ticks[0]) / clk_tck if sys_ticks else None
        runs.setdefault((scenario, subject), []).append(run)
    return runs


def med(runs: list, key: str) -> float:
    return statistics.median(r[key] for r in runs) if runs else 0.0


def cpu_us_per_req(runs: list) -> float:
    if not runs:
        return 0.0
    return statistics.median(r["cpu_s"] / max(r["requests"], 1) * 1e6 for r in runs)


def cpu_split(runs: list) -> str:
    """' (user + kernel)' µs per request, the median of each over the rounds (so the two need
    not add up to the median total), or '' when the kernel time was not recorded."""
    if not runs or any(r.get("sys_s") is None for r in runs):
        return ""
    kernel = statistics.median(r["sys_s"] / max(r["requests"], 1) * 1e6 for r in runs)
    user = statistics.median(
        (r["cpu_s"] - r["sys_s"]) / max(r["requests"], 1) * 1e6 for r in runs
    )
    return f" ({user:.1f} + {kernel:.1f})"


def ms(value: float) -> str:
    return f"{value * 1e3:.2f} ms"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "—"


def errors(runs: list) -> str:
    return f"{sum(x['non2xx'] for x in runs)} / {sum(x['socket_errors'] for x in runs)}"


def key_values(path: Path) -> dict:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def noise(runs: dict) -> tuple:
    """The widest spread of one subject's rounds in a load scenario: (max − min) / median of
    requests/s, with the scenario and subject; (0.0, "", "") with fewer than two rounds."""
    worst = (0.0, "", "")
    for (scenario, subject), r in runs.items():
        if scenario not in ("cached", "cold", "orgs", "h2") or len(r) < 2:
            continue
        rps = [x["rps"] for x in r]
        middle = statistics.median(rps)
        if middle > 0:
            worst = max(worst, ((max(rps) - min(rps)) / middle, scenario, subject))
    return worst


def slowest(runs_tsv: Path) -> int:
    runs = load_runs(runs_tsv)
    # The peers only: the floor-* reference subjects (--floor) are not part of the paced run.
    rates = [
        med(v, "rps")
        for (sc, subject), v in runs.items()
        if sc == "cached" and not subject.startswith("floor-")
    ]
    return int(min(rates))


def report(out: Path) -> str:
    meta = key_values(out / "meta.txt")
    clk_tck = int(meta.get("clk_tck", "100"))
    runs = load_runs(out / "runs.tsv", clk_tck)
    rss: dict = {}
    if (out / "rss.tsv").exists():
        for line in (out / "rss.tsv").read_text().splitlines():
            subject, when, kib = line.split("\t")
            rss[(subject, when)] = int(kib) / 1024
    quick = meta.get("quick") == "1"
    xfer_mib = int(meta.get("xfer_mib", "1024"))
    xfer_size = "1 GiB" if xfer_mib == 1024 else f"{xfer_mib} MiB"
    lines = [SECTION, ""]
    lines += [
        "One command: `scripts/bench-peers` (`--quick` for shorter runs, `--no-write` to leave this",
        "file alone, `--rounds=N` for more interleaved rounds on a busy machine, `--floor` for",
        "three reference subjects in the cached scenario). It installs nginx,",
        "HAProxy, wrk and h2load from Debian when absent, builds",
        "binding-proxy in release and writes this section (replaced on each run). 127.0.0.1 only.",
        "",
        f"Run of {meta['date']}"
        + (" (`--quick`)" if quick else "")
        + f": {meta['cpus']} × {meta['cpu']}, Linux {meta['kernel']}; "
        f"nginx {meta['nginx']}, HAProxy {meta['haproxy']}, wrk {meta['wrk']}, "
        f"h2load {meta.get('h2load', '?')}, curl {meta.get('curl', '?')}, "
        f"binding-proxy {meta['binding_proxy']} (rustc {meta['rustc']}, release). "
        f"Measuring took {int(meta.get('elapsed', '0')) // 60} min {int(meta.get('elapsed', '0')) % 60} s.",
        "",
        "Set-up: the load generator (wrk, h2load or curl, 1 thread) and the upstream (nginx, 1",
        "worker, 200 + 46-byte JSON body) pinned to CPU 0; the subject alone on CPU 1 with one",
        "worker: nginx (`worker_processes 1`, keep-alive upstream pool, static `Authorization`),",
        "HAProxy (`nbthread 1`, `jwt_verify` ES256 + alg/iss/aud/exp checks, then the header",
        "swap), binding-proxy (`runtime.worker_threads = 1`, SQLite store, `log.level = warn`).",
        "All subjects run at once, only one is loaded at a time. "
        f"{meta['rounds']} interleaved rounds of {meta['duration']} s per scenario",
        "(A B C D, D C B A, A B C D, …), medians, and each subject's best round (other tenants only add time). CPU = utime + stime of all the subject's processes from",
        "`/proc/<pid>/stat` around each run; in brackets its user-space and kernel parts (utime",
        "and stime, the median of each). The machine is shared: single rounds move by up to 40%.",
        "",
    ]
    spread, spread_scenario, spread_subject = noise(runs)
    if spread_subject:
        lines += [
            f"Noise of this run: one subject's rounds spread by up to {spread:.0%} of their median "
            f"({spread_subject}, {spread_scenario})"
            + (
                ". **A noisy run**: compare best rounds, or run again when the machine is quiet "
                "(`--rounds=5` helps)."
                if spread > NOISY
                else "; the rounds agree (a machine that is slow the whole time is not caught by "
                "this: compare nginx's CPU µs per request with other runs)."
            ),
            "",
        ]
    lines += [
        "Proofs before any load (the script stops if one fails):",
        "",
        "| subject | request | result |",
        "|---|---|---|",
    ]
    if (out / "proofs.md").exists():
        lines += (out / "proofs.md").read_text().splitlines()

    def table(scenario: str, subjects: list, baseline: dict) -> list:
        rows = [
            "| subject | requests/s | p50 | p99 | proxy CPU s / 10k req "
            "| CPU µs / req (user + kernel) "
            "| best round: requests/s · CPU µs / req "
            "| throughput vs nginx | vs HAProxy-jwt | CPU vs nginx | non-2xx / errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in subjects:
            r = runs.get((scenario, s))
            if not r:
                continue
            rps = med(r, "rps")
            cpu = cpu_us_per_req(r)
            proxy = s != "direct"
            best_rps = max(x["rps"] for x in r)
            best_cpu = min(x["cpu_s"] / max(x["requests"], 1) * 1e6 for x in r)
            rows.append(
                f"| {s} | {rps:,.0f} | {ms(med(r, 'p50'))} | {ms(med(r, 'p99'))} "
                f"| {cpu / 100:.3f} | {cpu:.1f}{cpu_split(r)} | {best_rps:,.0f} · {best_cpu:.1f} | "
                if proxy
                else f"| {s} (no proxy; CPU is the upstream's) | {rps:,.0f} | {ms(med(r, 'p50'))} "
                f"| {ms(med(r, 'p99'))} | — | — | {best_rps:,.0f} · — | "
            )
            rows[-1] += (
                f"{ratio(rps, baseline['nginx_rps'])} | {ratio(rps, baseline['haproxy_rps'])} | "
                f"{ratio(cpu, baseline['nginx_cpu']) if proxy else '—'} | {errors(r)} |"
            )
        return rows

    def scenario_base(scenario: str) -> dict:
        return {
            "nginx_rps": med(runs.get((scenario, "nginx"), []), "rps"),
            "haproxy_rps": med(runs.get((scenario, "haproxy-jwt"), []), "rps"),
            "nginx_cpu": cpu_us_per_req(runs.get((scenario, "nginx"), [])),
        }

    base = scenario_base("cached")
    if any(sc == "cached" for sc, _ in runs):
        lines += [
            "",
            f"### (a) One token, cached path — saturation, {meta['connections']} connections",
            "",
        ]
        lines += table(
            "cached",
            [
                "direct", "nginx", "haproxy-jwt", "binding-proxy",
                "floor-raw", "floor-hyper", "floor-hyper-client",
            ],
            base,
        )
        if runs.get(("cached", "floor-raw")):
            lines += [
                "",
                "The floor-* rows (`--floor`) are references, not peers: "
                "`benches/src/bin/proxy-floor.rs`, no checks, a static `Authorization`, one Tokio "
                "worker. floor-raw parses with httparse and writes the upstream head from the "
                "client's bytes; floor-hyper puts hyper's server and the `http` types, as "
                "binding-proxy's, in front of the same upstream side; floor-hyper-client uses "
                "hyper on both sides and streams the response body, binding-proxy's shape "
                "without its checks.",
            ]

    if any(sc == "cold" for sc, _ in runs):
        lines += [
            "",
            "### (b) Cold tokens — every request carries a token not in the cache",
            "",
            f"{meta['cold_tokens']} pre-minted tokens sent round-robin (wrk Lua script, requests",
            "formatted once at start); the binding-proxy instance runs with",
            "`cache.token_capacity = 1`, so each request is a token cache miss (header checks,",
            "Ed25519 signature, claims, revocation). HAProxy verifies every request anyway; it",
            "gets the same number of distinct ES256 tokens. Ratios: against the cached-path nginx",
            "run above and against HAProxy-jwt in this same scenario.",
            "",
        ]
        cold_base = dict(base, haproxy_rps=med(runs.get(("cold", "haproxy-jwt"), []), "rps"))
        lines += table("cold", ["haproxy-jwt", "binding-proxy-cold"], cold_base)

    # (c) 10,000 organizations.
    orgs = key_values(out / "orgs.txt")
    cold_ok = cold_n = 0
    if orgs:
        n = int(orgs["orgs"])
        lines += [
            "",
            f"### (c) {n:,} organizations — one binding and one token each, default cache sizes",
            "",
            f"{n:,} bindings (each its own organization, scope `account`) and one token each,",
            "created through the admin API of a fresh instance, `binding-proxy-10k` (default",
            "`cache.token_capacity` and `cache.credential_capacity`: 100,000), in "
            f"{orgs['create_secs']} s over {orgs['orgs_admin_connections']} keep-alive",
            "connections (`mint_bp.py --orgs`). Cold first pass: every token once, "
            f"{meta['connections']} at a time",
            "with `curl -Z`, so each request verifies a token never seen and loads and decrypts",
            "its binding from the store (curl costs CPU 0 more per request than wrk: the",
            "requests/s of this pass are a floor). Then a warm-up and wrk cycling over the",
            f"{n:,} tokens (`tokens.lua`, requests formatted once), interleaved with the",
            "single-token instance driven by the same Lua script with its one token, so the load",
            "generator costs the same on both.",
            "",
        ]
        cold_file = Path(orgs.get("cold_file", ""))
        if cold_file.is_file():
            rows = [line.split() for line in cold_file.read_text().splitlines() if line.strip()]
            times = sorted(float(t) for _, t in rows)
            cold_n = len(rows)
            cold_ok = sum(1 for code, _ in rows if code == "200")
            secs = float(orgs["cold_secs"])
            cpu = int(orgs["cold_ticks"]) / clk_tck / max(cold_n, 1) * 1e6
            lines += [
                "| pass | requests | wall time | requests/s | p50 | p99 | proxy CPU µs / req | non-200 |",
                "|---|---|---|---|---|---|---|---|",
                f"| cold first pass (curl) | {cold_n:,} | {secs:.2f} s | {cold_n / secs:,.0f} "
                f"| {ms(percentile(times, 50))} | {ms(percentile(times, 99))} | {cpu:.1f} "
                f"| {cold_n - cold_ok} |",
                "",
            ]
        one = runs.get(("orgs", "binding-proxy"), [])
        many = runs.get(("orgs", "binding-proxy-10k"), [])
        cached_bp = runs.get(("cached", "binding-proxy"), [])
        lines += [
            "| subject | requests/s | p50 | p99 | proxy CPU µs / req | vs 1 token, same script "
            "| CPU vs 1 token | vs (a) cached | non-2xx / errors |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, r in (("binding-proxy, 1 token", one), (f"binding-proxy-10k, {n:,} tokens", many)):
            if not r:
                continue
            lines.append(
                f"| {label} | {med(r, 'rps'):,.0f} | {ms(med(r, 'p50'))} | {ms(med(r, 'p99'))} "
                f"| {cpu_us_per_req(r):.1f} | {ratio(med(r, 'rps'), med(one, 'rps'))} "
                f"| {ratio(cpu_us_per_req(r), cpu_us_per_req(one))} "
                f"| {ratio(med(r, 'rps'), med(cached_bp, 'rps'))} | {errors(r)} |"
            )
        if "rss_after" in orgs:
            before, after = int(orgs["rss_before"]), int(orgs["rss_after"])
            lines += [
                "",
                "| RSS | before the bindings | after creating them (nothing cached yet) "
                "| after the run (all cached) | growth |",
                "|---|---|---|---|---|",
                f"| binding-proxy-10k | {mib(before)} | {mib(int(orgs['rss_created']))} | {mib(after)} "
                f"| {mib(after - before)} |",
                "",
                "The growth includes what any first load adds (connection buffers, allocator",
                "arenas): compare binding-proxy's idle and after-load RSS in the memory table below.",
            ]

    # (d) transfers.
    transfers: dict = {}
    if (out / "transfers.tsv").exists():
        for line in (out / "transfers.tsv").read_text().splitlines():
            d, s, _r, nbytes, secs, ticks, rss0, hwm, rss1 = line.split("\t")
            transfers.setdefault((d, s), []).append({
                "bytes": int(nbytes), "secs": float(secs), "cpu_s": int(ticks) / clk_tck,
                "rss0": int(rss0), "hwm": int(hwm), "rss1": int(rss1),
                "growth": int(hwm) - int(rss0),
            })
    if transfers:
        lines += [
            "",
            f"### (d) {xfer_size} upload and {xfer_size} download, streamed through"
            + (" (`--quick`: 256 MiB instead of 1 GiB)" if xfer_mib != 1024 else ""),
            "",
            "The upstream is `scripts/bench/transfer.py` on CPU 0: it sends a sparse file with",
            "`sendfile` and reads every byte of an upload (spliced into `/dev/null`) before",
            "answering with the count (nginx cannot be this upstream: `return 200` answers before",
            "the body is read, `echo_read_request_body` buffers it whole). curl streams the",
            "upload from a sparse file (`-T`, never held in memory; no `Expect: 100-continue`)",
            "and writes the download to `/dev/null`; every transfer must answer 200 with every",
            "byte counted (the upstream's count for uploads, curl's for downloads). nginx:",
            "`proxy_request_buffering off; proxy_buffering off; client_max_body_size 0;`.",
            "binding-proxy: no `dataplane.max_body_bytes` (the default), an instance whose",
            "upstream is `transfer.py`, otherwise configured as above. Peak RSS: `echo 5 >",
            "/proc/<pid>/clear_refs` before each transfer, `VmHWM` after, summed over the",
            "subject's processes (nginx: master + worker); growth = peak − RSS before. Medians",
            "of the rounds; direct's CPU is the upstream's and is not shown.",
        ]
        for d, title in (("up", "Upload"), ("down", "Download")):
            ng = transfers.get((d, "nginx"), [])
            ng_mibs = statistics.median(x["bytes"] / 1048576 / x["secs"] for x in ng) if ng else 0
            ng_cpu = med(ng, "cpu_s")
            lines += [
                "",
                f"{title}:",
                "",
                "| subject | MiB/s | time | proxy CPU s | CPU s / GiB | RSS before | peak "
                "| peak growth | RSS after | throughput vs nginx | CPU vs nginx |",
                "|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for s in ("direct", "nginx", "binding-proxy"):
                r = transfers.get((d, s))
                if not r:
                    continue
                mibs = statistics.median(x["bytes"] / 1048576 / x["secs"] for x in r)
                gib = r[0]["bytes"] / 2**30
                row = f"| {s} | {mibs:,.0f} | {med(r, 'secs'):.2f} s | "
                if s == "direct":
                    row += "— | — | — | — | — | — | "
                else:
                    row += (f"{med(r, 'cpu_s'):.2f} | {med(r, 'cpu_s') / gib:.2f} "
                            f"| {mib(med(r, 'rss0'))} | {mib(med(r, 'hwm'))} "
                            f"| {mib(med(r, 'growth'))} | {mib(med(r, 'rss1'))} | ")
                row += f"{ratio(mibs, ng_mibs)} | "
                row += f"{ratio(med(r, 'cpu_s'), ng_cpu) if s != 'direct' else '—'} |"
                lines.append(row)

    if any(sc == "h2" for sc, _ in runs):
        lines += [
            "",
            "### (e) HTTP/2 from the client — h2c (prior knowledge), "
            f"h2load -c {meta.get('h2_connections', '50')} -m {meta.get('h2_streams', '10')}",
            "",
            "Every subject over h2c: direct to the upstream nginx's `http2` port, nginx",
            "`listen … http2`, HAProxy `bind … proto h2`, binding-proxy on its data-plane port",
            "(h2c by prior knowledge next to HTTP/1.1). The upstream legs stay HTTP/1.1",
            "keep-alive. One token as in (a); p50/p99 from h2load's per-request log. Ratios",
            "against nginx and HAProxy-jwt in this same scenario.",
            "",
        ]
        lines += table("h2", ["direct", "nginx", "haproxy-jwt", "binding-proxy"],
                       scenario_base("h2"))

    direct_p99 = med(runs.get(("paced", "direct"), []), "p99")
    if (out / "paced.txt").exists() and any(sc == "paced" for sc, _ in runs):
        rate, per_conn, paced_conns = (out / "paced.txt").read_text().split()
        window = int(paced_conns) / float(rate) * 1e3
        lines += [
            "",
            f"### Latency at a fixed rate: {int(rate):,} requests/s (half the slowest saturation)",
            "",
            f"`h2load --h1 --rps`: {paced_conns} HTTP/1.1 connections, each sending "
            f"{float(per_conn):g} requests/s",
            "on its own clock (started 1 ms apart, so the schedules do not coincide). A request",
            "goes out at its time whether or not earlier answers were slow, as long as its",
            "connection's previous answer has arrived (one request in flight per HTTP/1.1",
            f"connection): an open loop for any latency under {window:.0f} ms. Latency counts",
            "from the actual send. wrk2, oha and vegeta are not packaged for Debian bookworm;",
            "h2load (nghttp2-client) is, and holds the rate where the former closed-loop wrk",
            "script (a pause after each answer) let a slower subject get fewer requests.",
            "p50/p99 from h2load's per-request log.",
            "",
            "| subject | achieved requests/s | p50 | p99 | added p99 over direct "
            "| proxy CPU µs / req (user + kernel) | non-2xx / errors |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in ["direct", "nginx", "haproxy-jwt", "binding-proxy"]:
            r = runs.get(("paced", s))
            if not r:
                continue
            added = "—" if s == "direct" else ms(med(r, "p99") - direct_p99)
            cpu = "—" if s == "direct" else f"{cpu_us_per_req(r):.1f}{cpu_split(r)}"
            lines.append(
                f"| {s} | {med(r, 'rps'):,.0f} | {ms(med(r, 'p50'))} | {ms(med(r, 'p99'))} "
                f"| {added} | {cpu} | {errors(r)} |"
            )
    if rss:
        lines += [
            "",
            "### Memory (RSS, all processes of the subject)",
            "",
            "| subject | idle | after every scenario |",
            "|---|---|---|",
        ]
        for s in PROXIES:
            if (s, "idle") in rss:
                lines.append(
                    f"| {s} | {rss[(s, 'idle')]:.1f} MiB | {rss.get((s, 'loaded'), 0):.1f} MiB |"
                )

    # Targets of issue #6 that this run measures.
    bp = runs.get(("cached", "binding-proxy"), [])
    bpc = runs.get(("cold", "binding-proxy-cold"), [])
    hc = runs.get(("cold", "haproxy-jwt"), [])
    checks = []
    if bp and base["nginx_rps"]:
        rps, cpu = med(bp, "rps"), cpu_us_per_req(bp)
        checks.append(("cached throughput ≥ 0.95× nginx", ratio(rps, base["nginx_rps"]),
                       rps >= 0.95 * base["nginx_rps"]))
        checks.append(("cached throughput ≥ 5× HAProxy-jwt", ratio(rps, base["haproxy_rps"]),
                       rps >= 5 * base["haproxy_rps"]))
        checks.append(("cached CPU per request ≤ nginx",
                       f"{cpu:.1f} µs vs {base['nginx_cpu']:.1f} µs", cpu <= base["nginx_cpu"]))
    if bpc and hc:
        a, b = med(bpc, "rps"), med(hc, "rps")
        checks.append(("cold throughput ≥ 1.5× HAProxy-jwt", ratio(a, b), a >= 1.5 * b))
    paced_bp = runs.get(("paced", "binding-proxy"))
    if paced_bp and runs.get(("paced", "direct")):
        added = med(paced_bp, "p99") - direct_p99
        checks.append(("added p99 over direct ≤ 1 ms (fixed rate)", ms(added), added <= 1e-3))
    bad = sum(
        x["non2xx"] + x["socket_errors"]
        for (sc, s), v in runs.items()
        if s.startswith("binding-proxy")
        for x in v
    ) + (cold_n - cold_ok)
    checks.append(("no error or non-2xx under load (binding-proxy)", str(bad), bad == 0))
    if ("binding-proxy", "idle") in rss:
        idle = rss[("binding-proxy", "idle")]
        checks.append(("idle RSS ≤ 30 MiB", f"{idle:.1f} MiB", idle <= 30))
    if "rss_after" in orgs:
        growth = (int(orgs["rss_after"]) - int(orgs["rss_before"])) / 1024
        checks.append((f"{int(orgs['orgs']):,} bindings cached: RSS growth ≤ 64 MiB",
                       f"{growth:.1f} MiB", growth <= 64))
    up = transfers.get(("up", "binding-proxy"))
    if up:
        worst = max(x["growth"] for x in up) / 1024
        checks.append((f"{xfer_size} upload: RSS growth ≤ 16 MiB (worst of {len(up)})"
                       + (" — quick run, not 1 GiB" if xfer_mib != 1024 else ""),
                       f"{worst:.1f} MiB", worst <= 16))
    lines += ["", "### Targets (issue #6) measured by this run", "",
              "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in checks]
    return "\n".join(lines) + "\n"


def write(report_md: Path, doc: Path) -> None:
    text = doc.read_text()
    new = report_md.read_text().rstrip("\n") + "\n"
    start = text.find(SECTION + "\n")
    if start < 0:
        doc.write_text(text.rstrip("\n") + "\n\n" + new)
        return
    # The section ends at the next level-2 heading, or at the end of the file.
    m = re.compile(r"^## ", re.M).search(text, start + len(SECTION))
    end = m.start() if m else len(text)
    tail = text[end:]
    doc.write_text(text[:start] + new + ("\n" + tail if tail else ""))


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "slowest":
        print(slowest(Path(sys.argv[2])))
    elif cmd == "latency":
        sys.stdout.write(h2load_latency(Path(sys.argv[2])))
    elif cmd == "noise":
        spread, scenario, subject = noise(load_runs(Path(sys.argv[2])))
        print(f"{int(spread > NOISY)}\t{spread:.0%}\t{scenario or '-'}\t{subject or '-'}")
    elif cmd == "report":
        sys.stdout.write(report(Path(sys.argv[2])))
    elif cmd == "write":
        write(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
