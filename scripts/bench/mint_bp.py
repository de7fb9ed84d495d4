#!/usr/bin/env python3
"""Creates bindings and mints binding-proxy tokens through the admin API (stdlib only).

usage:
  mint_bp.py [--scopes=S1,S2] ADMIN_ADDR ADMIN_TOKEN ORG API_KEY COUNT [TTL_SECS]
      Creates the binding ORG (scope `account`, no rate limit) unless it exists, then prints
      COUNT tokens of it, one a line. One keep-alive connection.
  mint_bp.py [--scopes=S1,S2] --orgs N ADMIN_ADDR ADMIN_TOKEN PREFIX API_KEY [CONNECTIONS]
      Creates N bindings PREFIX-00000 … (each its own organization, scope `account`; an
      existing one is kept) and mints one token for each; prints the N tokens, one a line, in
      organization order. CONNECTIONS keep-alive connections (default 4) work in parallel so
      the client's own time overlaps the server's; the time taken goes to stderr.

--scopes gives new bindings other scopes than `account` (e.g. `speech` for WebSocket
sessions, scripts/bench-websocket).

127.0.0.1 (or localhost) only.
"""
import http.client
import json
import sys
import threading
import time

# The scopes of the bindings created: `account` unless --scopes says otherwise.
SCOPES = ["account"]


class Admin:
    """One keep-alive connection to the admin API."""

    def __init__(self, addr: str, admin_token: str) -> None:
        host, port = addr.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            sys.exit("refusing a non-loopback admin address")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = {"Authorization": f"Bearer {admin_token}",
                        "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict) -> tuple:
        self.conn.request(method, path, json.dumps(body), self.headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def create_binding(self, org: str, api_key: str) -> None:
        status, body = self.call("POST", "/v1/bindings",
                                 {"org_id": org, "api_key": api_key, "scopes": SCOPES})
        if status not in (201, 409):
            raise RuntimeError(f"create binding {org}: HTTP {status}: {body[:200]!r}")

    def mint(self, org: str, ttl: "int | None" = None) -> str:
        req = {"function_id": "bench"}
        if ttl is not None:
            req["ttl_secs"] = ttl
        status, body = self.call("POST", f"/v1/bindings/{org}/tokens", req)
        if status != 201:
            raise RuntimeError(f"mint token for {org}: HTTP {status}: {body[:200]!r}")
        return json.loads(body)["data"]["token"]


def one_org(argv: list) -> None:
    addr, admin_token, org, api_key, count = argv[:5]
    ttl = int(argv[5]) if len(argv) > 5 else None
    admin = Admin(addr, admin_token)
    try:
        admin.create_binding(org, api_key)
        out = [admin.mint(org, ttl) for _ in range(int(count))]
    except RuntimeError as e:
        sys.exit(str(e))
    sys.stdout.write("\n".join(out) + "\n")


def many_orgs(argv: list) -> None:
    n = int(argv[0])
    addr, admin_token, prefix, api_key = argv[1:5]
    conns = int(argv[5]) if len(argv) > 5 else 4
    tokens: list = [None] * n
    errors: list = []
    started = time.monotonic()

    def work(first: int) -> None:
        try:
            admin = Admin(addr, admin_token)
            for i in range(first, n, conns):
                if errors:
                    return
                org = f"{prefix}-{i:05d}"
                admin.create_binding(org, api_key)
                tokens[i] = admin.mint(org)
        except (RuntimeError, OSError, http.client.HTTPException) as e:
            errors.append(str(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(errors[0])
    took = time.monotonic() - started
    sys.stderr.write(f"{n} bindings and {n} tokens in {took:.1f} s over {conns} connections\n")
    sys.stdout.write("\n".join(tokens) + "\n")


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0].startswith("--scopes="):
        SCOPES[:] = [s for s in argv.pop(0)[len("--scopes="):].split(",") if s]
    if argv and argv[0] == "--orgs":
        many_orgs(argv[1:])
    else:
        one_org(argv)


if __name__ == "__main__":
    main()
