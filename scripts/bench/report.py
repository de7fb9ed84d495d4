#!/usr/bin/env python3
"""Turns the raw outputs of scripts/bench-peers into markdown (stdlib only).

usage:
  report.py slowest RUNS.tsv         median saturation req/s of the slowest cached subject
  report.py report OUT_DIR           prints the "Peer benchmark" section
  report.py write REPORT.md DOC.md   replaces (or appends) that section in DOC.md

RUNS.tsv lines: scenario, subject, round, CPU ticks used by the subject, wrk output file.
"""
import re
import statistics
import sys
from pathlib import Path

SECTION = "## Peer benchmark"
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


def load_runs(runs_tsv: Path, clk_tck: int = 100) -> dict:
    """(scenario, subject) → list of runs, each wrk's numbers plus CPU seconds."""
    runs: dict = {}
    for line in runs_tsv.read_text().splitlines():
        scenario, subject, _round, ticks, wrk_file = line.split("\t")
        run = parse_wrk(Path(wrk_file).read_text())
        run["cpu_s"] = int(ticks) / clk_tck
        runs.setdefault((scenario, subject), []).append(run)
    return runs


def med(runs: list, key: str) -> float:
    return statistics.median(r[key] for r in runs)


def cpu_us_per_req(runs: list) -> float:
    return statistics.median(r["cpu_s"] / r["requests"] * 1e6 for r in runs)


def ms(value: float) -> str:
    return f"{value * 1e3:.2f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "—"


def slowest(runs_tsv: Path) -> int:
    runs = load_runs(runs_tsv)
    rates = [med(v, "rps") for (sc, _), v in runs.items() if sc == "cached"]
    return int(min(rates))


def report(out: Path) -> str:
    meta = dict(
        line.split("=", 1) for line in (out / "meta.txt").read_text().splitlines() if "=" in line
    )
    runs = load_runs(out / "runs.tsv", int(meta.get("clk_tck", "100")))
    rss: dict = {}
    for line in (out / "rss.tsv").read_text().splitlines():
        subject, when, kib = line.split("\t")
        rss[(subject, when)] = int(kib) / 1024
    rate, delay_ms, paced_conns = (out / "paced.txt").read_text().split()
    lines = [SECTION, ""]
    lines += [
        "One command: `scripts/bench-peers` (`--quick` for shorter runs, `--no-write` to leave this",
        "file alone). It installs nginx, HAProxy and wrk from Debian when absent, builds",
        "binding-proxy in release and writes this section (replaced on each run). 127.0.0.1 only.",
        "",
        f"Run of {meta['date']}: {meta['cpus']} × {meta['cpu']}, Linux {meta['kernel']}; "
        f"nginx {meta['nginx']}, HAProxy {meta['haproxy']}, wrk {meta['wrk']}, "
        f"binding-proxy {meta['binding_proxy']} (rustc {meta['rustc']}, release).",
        "",
        "Set-up: wrk (1 thread) and the upstream (nginx, 1 worker, 200 + 46-byte JSON body) pinned",
        "to CPU 0; the subject alone on CPU 1 with one worker: nginx (`worker_processes 1`,",
        "keep-alive upstream pool, static `Authorization`), HAProxy (`nbthread 1`, `jwt_verify`",
        "ES256 + alg/iss/aud/exp checks, then the header swap), binding-proxy",
        "(`runtime.worker_threads = 1`, SQLite store, `log.level = warn`). All subjects run at",
        "once, only one is loaded at a time. "
        f"{meta['rounds']} interleaved rounds of {meta['duration']} s per scenario",
        "(A B C D, D C B A), medians. CPU = utime + stime of all the subject's processes from",
        "`/proc/<pid>/stat` around each run. The machine is shared: expect a few percent of noise.",
        "",
        "Proofs before any load (the script stops if one fails):",
        "",
        "| subject | request | result |",
        "|---|---|---|",
    ]
    lines += (out / "proofs.md").read_text().splitlines()

    def table(scenario: str, subjects: list, baseline: dict) -> list:
        rows = [
            "| subject | requests/s | p50 | p99 | proxy CPU s / 10k req | CPU µs / req "
            "| throughput vs nginx | vs HAProxy-jwt | CPU vs nginx | non-2xx / errors |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in subjects:
            r = runs.get((scenario, s))
            if not r:
                continue
            rps = med(r, "rps")
            cpu = cpu_us_per_req(r)
            proxy = s != "direct"
            rows.append(
                f"| {s} | {rps:,.0f} | {ms(med(r, 'p50'))} | {ms(med(r, 'p99'))} "
                f"| {cpu / 100:.3f} | {cpu:.1f} | "
                if proxy
                else f"| {s} (no proxy; CPU is the upstream's) | {rps:,.0f} | {ms(med(r, 'p50'))} "
                f"| {ms(med(r, 'p99'))} | — | — | "
            )
            rows[-1] += (
                f"{ratio(rps, baseline['nginx_rps'])} | {ratio(rps, baseline['haproxy_rps'])} | "
                f"{ratio(cpu, baseline['nginx_cpu']) if proxy else '—'} | "
                f"{sum(x['non2xx'] for x in r)} / {sum(x['socket_errors'] for x in r)} |"
            )
        return rows

    cached = lambda s: runs.get(("cached", s), [])  # noqa: E731
    base = {
        "nginx_rps": med(cached("nginx"), "rps"),
        "haproxy_rps": med(cached("haproxy-jwt"), "rps"),
        "nginx_cpu": cpu_us_per_req(cached("nginx")),
    }
    lines += [
        "",
        f"### (a) One token, cached path — saturation, {meta['connections']} connections",
        "",
    ]
    lines += table("cached", ["direct", "nginx", "haproxy-jwt", "binding-proxy"], base)
    lines += [
        "",
        "### (b) Cold tokens — every request carries a token not in the cache",
        "",
        f"{meta['cold_tokens']} pre-minted tokens sent round-robin (wrk Lua script); the",
        "binding-proxy instance runs with `cache.token_capacity = 1`, so each request is a token",
        "cache miss (header checks, Ed25519 signature, claims, revocation). HAProxy verifies every",
        "request anyway; it gets the same number of distinct ES256 tokens (the Lua script costs wrk",
        "some throughput on CPU 0, so HAProxy is slower here than above). Ratios: against the",
        "cached-path nginx run above and against HAProxy-jwt in this same scenario.",
        "",
    ]
    cold_base = dict(base, haproxy_rps=med(runs.get(("cold", "haproxy-jwt"), [{"rps": 0}]), "rps"))
    lines += table("cold", ["haproxy-jwt", "binding-proxy-cold"], cold_base)
    lines += [
        "",
        f"### Latency at a fixed rate ≈ {int(rate):,} requests/s (half the slowest saturation)",
        "",
        "wrk has no rate limit and wrk2, oha and vegeta are not packaged for Debian bookworm, so",
        f"{paced_conns} connections each wait {delay_ms} ms before their next request",
        "(`scripts/bench/paced.lua`). That is a closed loop: coordinated omission is not",
        "corrected, so p99 is an under-estimate next to wrk2's.",
        "",
        "| subject | achieved requests/s | p50 | p99 | added p99 over direct | proxy CPU µs / req "
        "| non-2xx / errors |",
        "|---|---|---|---|---|---|---|",
    ]
    direct_p99 = med(runs.get(("paced", "direct"), [{"p99": 0}]), "p99")
    for s in ["direct", "nginx", "haproxy-jwt", "binding-proxy"]:
        r = runs.get(("paced", s))
        if not r:
            continue
        added = "—" if s == "direct" else ms(med(r, "p99") - direct_p99)
        cpu = "—" if s == "direct" else f"{cpu_us_per_req(r):.1f}"
        lines.append(
            f"| {s} | {med(r, 'rps'):,.0f} | {ms(med(r, 'p50'))} | {ms(med(r, 'p99'))} | {added} "
            f"| {cpu} | {sum(x['non2xx'] for x in r)} / {sum(x['socket_errors'] for x in r)} |"
        )
    lines += [
        "",
        "### Memory (RSS, all processes of the subject)",
        "",
        "| subject | idle | after the load |",
        "|---|---|---|",
    ]
    for s in PROXIES:
        if (s, "idle") in rss:
            lines.append(
                f"| {s} | {rss[(s, 'idle')]:.1f} MiB | {rss.get((s, 'loaded'), 0):.1f} MiB |"
            )

    # Targets of issue #6 that this run measures.
    bp = cached("binding-proxy")
    bpc = runs.get(("cold", "binding-proxy-cold"), [])
    hc = runs.get(("cold", "haproxy-jwt"), [])
    checks = []
    if bp:
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
    if paced_bp:
        added = med(paced_bp, "p99") - direct_p99
        checks.append(("added p99 over direct ≤ 1 ms (fixed rate)", ms(added), added <= 1e-3))
    bad = sum(
        x["non2xx"] + x["socket_errors"]
        for (sc, s), v in runs.items()
        if s.startswith("binding-proxy")
        for x in v
    )
    checks.append(("no error or non-2xx under load (binding-proxy)", str(bad), bad == 0))
    if ("binding-proxy", "idle") in rss:
        idle = rss[("binding-proxy", "idle")]
        checks.append(("idle RSS ≤ 30 MiB", f"{idle:.1f} MiB", idle <= 30))
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
    elif cmd == "report":
        sys.stdout.write(report(Path(sys.argv[2])))
    elif cmd == "write":
        write(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
