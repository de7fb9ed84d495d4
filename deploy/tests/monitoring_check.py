#!/usr/bin/env python3
"""Checks of the Grafana dashboard and the alert rules that need no Grafana or Prometheus server.

Usage: monitoring_check.py REPO_ROOT PROMTOOL OUT_DIR

- the dashboard is valid JSON with unique panel ids, a uid, and a target on every panel;
- every dashboard query is valid PromQL: each becomes a recording rule ($job and
  $__rate_interval substituted) and `promtool check rules` parses it;
- every binding_proxy_* name in the dashboard and the alert rules is a documented metric
  (docs/metrics.md when present; its histogram/counter sample suffixes allowed). The Rust test
  crates/binding-proxy/tests/it/deploy_metrics.rs checks the same names against the real
  binary's /metrics after traffic;
- every alert has a runbook_url whose anchor is a heading of docs/runbooks.md.
"""
import json
import os
import re
import subprocess
import sys

import yaml

# The names the service exports (crates/dataplane/src/metrics.rs, crates/auth/src/metrics.rs),
# used when docs/metrics.md does not exist yet.
FALLBACK = {
    "binding_proxy_requests_total", "binding_proxy_request_duration_seconds",
    "binding_proxy_upstream_duration_seconds", "binding_proxy_refusals_total",
    "binding_proxy_rate_limited_requests_total", "binding_proxy_in_flight_requests",
    "binding_proxy_request_body_bytes_total", "binding_proxy_response_body_bytes_total",
    "binding_proxy_token_cache_requests_total", "binding_proxy_credential_cache_requests_total",
    "binding_proxy_store_errors_total",
}


def anchor(heading):
    """GitHub's heading anchor."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def main():
    root, promtool, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    failures = []
    dash_path = os.path.join(root, "deploy", "grafana", "binding-proxy.json")
    alerts_path = os.path.join(root, "deploy", "prometheus", "alerts.yaml")
    dash = json.load(open(dash_path, encoding="utf-8"))
    alerts = yaml.safe_load(open(alerts_path, encoding="utf-8"))

    if not dash.get("uid") or not dash.get("title"):
        failures.append("dashboard: uid and title are required")
    ids, exprs = set(), []
    for p in dash.get("panels", []):
        if p["id"] in ids:
            failures.append(f"dashboard: duplicate panel id {p['id']}")
        ids.add(p["id"])
        if p["type"] == "row":
            continue
        if not p.get("targets"):
            failures.append(f"dashboard: panel {p['title']!r} has no query")
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))

    rules = []
    for i, (title, expr) in enumerate(exprs):
        e = expr.replace("$__rate_interval", "5m").replace("$job", ".*")
        rules.append({"record": f"dashboard:panel_{i}", "expr": e})
    os.makedirs(out_dir, exist_ok=True)
    rule_file = os.path.join(out_dir, "dashboard-queries.rules.yaml")
    with open(rule_file, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    r = subprocess.run([promtool, "check", "rules", rule_file], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        failures.append(f"dashboard queries are not valid PromQL:\n{r.stdout}{r.stderr}")
    else:
        print(f"ok   promtool parses all {len(rules)} dashboard queries")

    metrics_md = os.path.join(root, "docs", "metrics.md")
    if os.path.exists(metrics_md):
        known = {l.split("`")[1] for l in open(metrics_md, encoding="utf-8") if l.startswith("| `binding_proxy_")}
        source = "docs/metrics.md"
    else:
        known, source = FALLBACK, "the fallback list (docs/metrics.md is missing)"
    text = open(dash_path, encoding="utf-8").read() + open(alerts_path, encoding="utf-8").read()
    used = set(re.findall(r"binding_proxy_[a-z0-9_]+", text))
    unknown = [n for n in sorted(used)
               if n not in known and re.sub(r"_(bucket|count|sum)$", "", n) not in known]
    for name in unknown:
        failures.append(f"metric {name} (dashboard/alerts) is not in {source}")
    if not unknown:
        print(f"ok   {len(used)} metric names used by the dashboard and alerts are in {source}")

    runbooks = os.path.join(root, "docs", "runbooks.md")
    anchors = set()
    if os.path.exists(runbooks):
        anchors = {anchor(l.lstrip("#")) for l in open(runbooks, encoding="utf-8") if l.startswith("#")}
    for group in alerts["groups"]:
        for rule in group["rules"]:
            url = rule.get("annotations", {}).get("runbook_url", "")
            m = re.search(r"docs/runbooks\.md#([\w-]+)$", url)
            if not m:
                failures.append(f"alert {rule['alert']}: runbook_url must link into docs/runbooks.md")
            elif m.group(1) not in anchors:
                failures.append(f"alert {rule['alert']}: docs/runbooks.md has no heading for #{m.group(1)}")
    if not any(f.startswith("alert ") for f in failures):
        print("ok   every alert links to a runbook heading in docs/runbooks.md")

    # Relative links (and their anchors) in the deployment docs resolve.
    link_failures = []
    for doc in ("deployment.md", "runbooks.md"):
        path = os.path.join(root, "docs", doc)
        for target in re.findall(r"\]\(([^)\s]+)\)", open(path, encoding="utf-8").read()):
            if re.match(r"[a-z]+://", target):
                continue
            file_part, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(root, "docs", file_part)) if file_part else path
            if not os.path.exists(dest):
                link_failures.append(f"docs/{doc}: link {target}: {dest} does not exist")
            elif frag and dest.endswith(".md"):
                heads = {anchor(l.lstrip("#")) for l in open(dest, encoding="utf-8") if l.startswith("#")}
                if frag not in heads:
                    link_failures.append(f"docs/{doc}: link {target}: no such heading")
    failures += link_failures
    if not link_failures:
        print("ok   links in docs/deployment.md and docs/runbooks.md resolve")

    if failures:
        for f in failures:
            print(f"FAIL monitoring: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
