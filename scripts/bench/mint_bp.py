#!/usr/bin/env python3
"""Creates a binding and mints binding-proxy tokens through the admin API (stdlib only).

usage: mint_bp.py ADMIN_ADDR ADMIN_TOKEN ORG API_KEY COUNT [TTL_SECS]
Creates the binding ORG (scope `account`, no rate limit) unless it exists, then prints COUNT
tokens, one a line. One keep-alive connection to 127.0.0.1 only.
"""
import http.client
import json
import sys


def main() -> None:
    addr, admin_token, org, api_key, count = sys.argv[1:6]
    ttl = int(sys.argv[6]) if len(sys.argv) > 6 else None
    host, port = addr.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        sys.exit("refusing a non-loopback admin address")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: dict) -> tuple[int, bytes]:
        conn.request(method, path, json.dumps(body), headers)
        resp = conn.getresponse()
        return resp.status, resp.read()

    status, body = call("POST", "/v1/bindings",
                        {"org_id": org, "api_key": api_key, "scopes": ["account"]})
    if status not in (201, 409):
        sys.exit(f"create binding: HTTP {status}: {body[:200]!r}")
    req = {"function_id": "bench"}
    if ttl is not None:
        req["ttl_secs"] = ttl
    out = []
    for _ in range(int(count)):
        status, body = call("POST", f"/v1/bindings/{org}/tokens", req)
        if status != 201:
            sys.exit(f"mint token: HTTP {status}: {body[:200]!r}")
        out.append(json.loads(body)["data"]["token"])
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
