#!/usr/bin/env python3
"""Turns the raw outputs of scripts/bench-websocket into markdown (stdlib only).

usage:
  websocket_report.py OUT_DIR     prints the report

OUT_DIR holds:
  meta.txt     NAME=VALUE lines (versions, sizes, rounds)
  proofs.md    rows of the proofs table
  rounds.tsv   one line per subject and round, with a header naming the columns: RSS (KiB,
               VmRSS of all the subject's processes) before any session, with half and with all
               of them open, after they closed; RssAnon before and with all open; CPU ticks
               (utime + stime) of the handshakes and of the echo phase; bytes echoed and the
               load generator's seconds for them; sessions closed cleanly
"""
import csv
import statistics
import sys
from pathlib import Path

SUBJECTS = ("nginx", "nginx-16k", "binding-proxy")
TARGET_BYTES = 16 * 1024  # issue #17: per idle session, beyond the kernel's socket buffers


def key_values(path: Path) -> dict:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def per_session(r: dict, clk_tck: int) -> dict:
    """One round's figures: bytes per session, CPU per MiB, MiB/s."""
    n = int(r["sessions"])
    half = n // 2
    tick_ms = 1000 / clk_tck
    carried_mib = 2 * int(r["xfer_bytes"]) / (1024 * 1024)  # up and echoed back
    return {
        "bytes": (int(r["rss_full"]) - int(r["rss0"])) * 1024 / n,
        "bytes_half": (int(r["rss_full"]) - int(r["rss_half"])) * 1024 / (n - half),
        "anon": (int(r["anon_full"]) - int(r["anon0"])) * 1024 / n,
        "kept": (int(r["rss_closed"]) - int(r["rss0"])) * 1024 / n,
        "rss0": int(r["rss0"]) / 1024,
        "rss_full": int(r["rss_full"]) / 1024,
        "open_us": int(r["open_ticks"]) * tick_ms * 1000 / n,
        "cpu_ms_mib": int(r["xfer_ticks"]) * tick_ms / carried_mib,
        "mib_s": int(r["xfer_bytes"]) / (1024 * 1024) / float(r["xfer_secs"]),
    }


def kib(value: float) -> str:
    return f"{value / 1024:.1f} KiB"


def report(out: Path) -> str:
    meta = key_values(out / "meta.txt")
    clk_tck = int(meta.get("clk_tck", "100"))
    with (out / "rounds.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    figures = {s: [per_session(r, clk_tck) for r in rows if r["subject"] == s] for s in SUBJECTS}
    med = {s: {k: statistics.median(f[k] for f in figs) for k in figs[0]}
           for s, figs in figures.items() if figs}
    n = int(meta["sessions"])
    lines = [
        f"Run of {meta['date']}: {meta['cpus']} × {meta['cpu']}, Linux {meta['kernel']}; "
        f"nginx {meta['nginx']}, binding-proxy {meta['binding_proxy']} (rustc {meta['rustc']}, "
        f"release). {meta['rounds']} interleaved rounds"
        + (" (`--quick`)" if meta.get("quick") == "1" else "")
        + f", each subject started afresh for each; {n:,} idle sessions, then "
        f"{meta['xfer_mib']} MiB echoed through {meta['xfer_sessions']} of them in "
        f"{meta['message_kib']} KiB binary messages. Measuring took {meta['elapsed']} s.",
        "",
        "Proofs before any load (the script stops if one fails):",
        "",
        "| subject | handshake | result |",
        "|---|---|---|",
    ]
    lines += (out / "proofs.md").read_text().splitlines()
    lines += [
        "",
        f"| subject | RSS before → with {n:,} sessions | bytes per session (0 → {n:,}) | "
        f"second half ({n // 2:,} → {n:,}) | RssAnon per session | kept after all closed, "
        "per session | handshake CPU per session | CPU per MiB tunnelled | MiB/s echoed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s, m in med.items():
        lines.append(
            f"| {s} | {m['rss0']:.1f} → {m['rss_full']:.1f} MiB | {kib(m['bytes'])} | "
            f"{kib(m['bytes_half'])} | {kib(m['anon'])} | {kib(m['kept'])} | "
            f"{m['open_us']:.0f} µs | {m['cpu_ms_mib']:.2f} ms | {m['mib_s']:.0f} |")
    lines += [
        "",
        "Medians of the rounds. CPU per MiB: utime + stime of the subject during the echo phase "
        "over the MiB it carried, each direction counted (sent up and echoed back: twice the "
        "MiB sent). Every round:",
        "",
        "| subject | round | bytes per session | second half | CPU ms per MiB | MiB/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        f = per_session(r, clk_tck)
        lines.append(f"| {r['subject']} | {r['round']} | {kib(f['bytes'])} | "
                     f"{kib(f['bytes_half'])} | {f['cpu_ms_mib']:.2f} | {f['mib_s']:.0f} |")
    if "binding-proxy" in med:
        worst = max(f["bytes"] for f in figures["binding-proxy"])
        met = "yes" if worst <= TARGET_BYTES else "**no**"
        lines += [
            "",
            "| target (issue #17) | measured | met |",
            "|---|---|---|",
            f"| ≤ 16 KiB per idle session beyond the sockets' kernel buffers (worst round) | "
            f"{kib(worst)} | {met} |",
        ]
        for peer in ("nginx", "nginx-16k"):
            if peer in med:
                ratio = med["binding-proxy"]["cpu_ms_mib"] / med[peer]["cpu_ms_mib"]
                lines.append(f"| (no target) CPU per MiB tunnelled against {peer}, medians | "
                             f"{ratio:.2f}× | — |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.stdout.write(report(Path(sys.argv[1])))
