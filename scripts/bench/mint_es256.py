#!/usr/bin/env python3
"""Mints ES256 JWTs for the HAProxy subject (stdlib + `cryptography`).

usage: mint_es256.py KEY.pem ISS AUD EXP_OFFSET_SECS COUNT
Prints COUNT tokens, one a line, each with its own `jti` (so each is a distinct string),
`exp` = now + EXP_OFFSET_SECS (negative: already expired).
"""
import base64
import json
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    key_path, iss, aud, exp_offset, count = sys.argv[1:6]
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    now = int(time.time())
    header = b64(json.dumps({"alg": "ES256", "typ": "JWT"}, separators=(",", ":")).encode())
    out = []
    for _ in range(int(count)):
        claims = {"iss": iss, "aud": aud, "sub": "bench", "iat": now,
                  "exp": now + int(exp_offset), "jti": str(uuid.uuid4())}
        payload = b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        out.append(f"{header}.{payload}.{sig}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
