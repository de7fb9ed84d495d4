#!/usr/bin/env python3
"""Offline check of deploy/compose.yaml (used when `docker compose` is not installed, and in
addition to it when it is).

Usage: compose_check.py REPO_ROOT [BINDING_PROXY_BINARY]

- the file's structure: the services, their images/builds, the files and paths it refers to;
- every BINDING_PROXY__SECTION__KEY variable it sets, and every key of the image's TOML file
  (deploy/binding-proxy.container.toml), is a key documented in docs/configuration.md;
- with a binding-proxy binary: `binding-proxy check-config` accepts the image's TOML file with
  the compose environment applied (interpolated with sample values) — the service's own parser.
"""
import os
import re
import subprocess
import sys
import tomllib

import yaml

SAMPLE = {"ADMIN_TOKEN_SHA256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}


def documented_keys(config_md):
    keys, section = {}, None
    for line in open(config_md, encoding="utf-8"):
        m = re.match(r"^## `\[([a-z_]+)\]`", line)
        if m:
            section = m.group(1)
            keys[section] = set()
            continue
        m = re.match(r"^\| `([a-z_0-9]+)` \|", line)
        if m and section:
            keys[section].add(m.group(1))
    keys.setdefault("scopes", set()).update(
        {"voice", "messaging", "numbers", "fax", "verify", "kv", "account"})
    return keys


def interpolate(value):
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR:?error} with sample values."""
    def sub(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in os.environ:
            return os.environ[name]
        if op == ":-":
            return arg
        return SAMPLE.get(name, "sample")
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", sub, str(value))


def main():
    root = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else None
    deploy = os.path.join(root, "deploy")
    failures = []
    compose = yaml.safe_load(open(os.path.join(deploy, "compose.yaml"), encoding="utf-8"))
    keys = documented_keys(os.path.join(root, "docs", "configuration.md"))

    services = compose.get("services", {})
    for required in ("binding-proxy", "postgres"):
        if required not in services:
            failures.append(f"service {required!r} missing")
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            failures.append(f"service {name}: neither image nor build")
        for port in svc.get("ports", []):
            if not re.fullmatch(r"(\d+\.\d+\.\d+\.\d+:)?\d{1,5}:\d{1,5}(/tcp|/udp)?", str(port)):
                failures.append(f"service {name}: malformed port {port!r}")
        for vol in svc.get("volumes", []):
            src = str(vol).split(":")[0]
            if src.startswith("."):
                if not os.path.exists(os.path.join(deploy, src)):
                    failures.append(f"service {name}: volume source {src} does not exist")
            elif src not in (compose.get("volumes") or {}):
                failures.append(f"service {name}: named volume {src} is not declared")
        build = svc.get("build")
        if build:
            ctx = os.path.normpath(os.path.join(deploy, build.get("context", ".")))
            if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
                failures.append(f"service {name}: dockerfile not found from context {ctx}")

    proxy = services.get("binding-proxy", {})
    env = {k: interpolate(v) for k, v in (proxy.get("environment") or {}).items()}
    for var in env:
        m = re.fullmatch(r"BINDING_PROXY__([A-Z_]+?)__([A-Z0-9_]+)", var)
        if not m:
            failures.append(f"environment {var}: not BINDING_PROXY__SECTION__KEY")
            continue
        section, key = m.group(1).lower(), m.group(2).lower()
        if key not in keys.get(section, set()):
            failures.append(f"environment {var}: [{section}] {key} is not in docs/configuration.md")

    image_toml = os.path.join(deploy, "binding-proxy.container.toml")
    for section, table in tomllib.load(open(image_toml, "rb")).items():
        for key in table:
            if key not in keys.get(section, set()):
                failures.append(f"{image_toml}: [{section}] {key} is not in docs/configuration.md")

    if binary:
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("BINDING_PROXY_")}
        run_env.update(env)
        r = subprocess.run([binary, "check-config", "--config", image_toml], env=run_env,
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            failures.append(f"binding-proxy check-config with the compose environment: "
                            f"{r.stdout}{r.stderr}")
        else:
            print(f"ok   binding-proxy check-config (image TOML + compose environment): {r.stdout.strip()}")

    if failures:
        for f in failures:
            print(f"FAIL compose: {f}", file=sys.stderr)
        sys.exit(1)
    print(f"ok   compose: {len(services)} services, {len(env)} BINDING_PROXY__ variables, all keys documented")


if __name__ == "__main__":
    main()
