#!/usr/bin/env python3
"""Lint and render the Helm chart offline with the Helm v4 library (helm-python-sdk).

Usage: helm_check.py CHART OUT_DIR

- `helm lint --strict` (warnings fail) for the default values and every ci/*.yaml;
- schema validation + `helm template` for the same value sets; each rendering is written to
  OUT_DIR/<case>.yaml for kubernetes-validate and checkov;
- values that must be refused (bad_values/*.yaml next to this file) must fail the schema or
  the render. Exit status 1 on any failure, with every problem printed.
"""
import glob
import os
import sys

import helm_python as helm
import yaml

RELEASE = "bp"
NAMESPACE = "binding-proxy"


def load_values(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def main():
    chart_dir, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    failures = []
    cases = [("default", {})]
    for path in sorted(glob.glob(os.path.join(chart_dir, "ci", "*.yaml"))):
        cases.append((os.path.splitext(os.path.basename(path))[0], load_values(path)))

    for case, values in cases:
        report = helm.lint(chart_dir, values or None, strict=True, namespace=NAMESPACE,
                           kube_version="v1.30.0")
        bad = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        for m in report["messages"]:
            print(f"  lint[{case}] severity={m['severity']} {m['path']}: {m['error']}")
        if bad:
            failures.append(f"helm lint --strict ({case}): {bad}")
        with helm.Chart.load(chart_dir) as chart:
            try:
                chart.validate_schema(chart.merge_values(values))
                manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE,
                                         is_install=True)
            except helm.HelmError as e:  # noqa: BLE001 - reported below
                failures.append(f"helm template ({case}): {e}")
                continue
        docs = []
        for name in sorted(manifests):
            body = manifests[name].strip()
            if name.endswith("NOTES.txt") or not body:
                continue
            docs.append(f"# Source: {name}\n{body}")
        out = os.path.join(out_dir, f"{case}.yaml")
        with open(out, "w", encoding="utf-8") as f:
            f.write("\n---\n".join(docs) + "\n")
        kinds = [d.get("kind") for d in yaml.safe_load_all(open(out, encoding="utf-8")) if d]
        print(f"ok   helm lint --strict + template [{case}] -> {out}: {', '.join(kinds)}")

    for path in sorted(glob.glob(os.path.join(here, "bad_values", "*.yaml"))):
        case = os.path.basename(path)
        values = load_values(path)
        with helm.Chart.load(chart_dir) as chart:
            reasons = []
            try:
                chart.validate_schema(chart.merge_values(values))
            except helm.HelmError as e:
                reasons.append("schema: " + " ".join(str(e).split()))
            try:
                chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            except helm.HelmError as e:
                reasons.append("template: " + " ".join(str(e).split()))
        expect = [line.split(":", 1)[1].strip() for line in open(path, encoding="utf-8")
                  if line.startswith("# expect:")]
        missing = [e for e in expect if not any(e in r for r in reasons)]
        if reasons and not missing:
            print(f"ok   refused as expected [{case}]: {' | '.join(reasons)}")
        else:
            failures.append(f"bad values not refused for the expected reason {missing}: {case}: {reasons}")

    if failures:
        for f in failures:
            print(f"FAIL {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
