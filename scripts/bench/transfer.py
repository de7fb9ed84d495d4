#!/usr/bin/env python3
"""Upstream for the 1 GiB transfer scenario of scripts/bench-peers (stdlib only, Linux).

usage: transfer.py PORT FILE

HTTP/1.1 with keep-alive on 127.0.0.1:PORT, one thread per connection:
  GET  (any path)        200 with FILE as the body (Content-Length), sent with sendfile(2);
                         `?bytes=N` in the target sends only the first N bytes
  POST/PUT (any path)    reads the whole body (Content-Length or chunked) before answering
                         200 {"received": N}; N is the number of body bytes read, so a
                         client can check that every byte reached the upstream. A
                         Content-Length body is spliced into /dev/null (no copy to user space),
                         so this process costs little next to the proxy under test.
Every answer echoes the `Authorization` it received in `X-Seen-Authorization`.

nginx cannot be this upstream: `return 200` answers before the body has been read (the rest is
discarded after the response), and `echo_read_request_body` buffers the whole body in memory
or in a temporary file. FILE is normally sparse (`truncate -s 1G`), so reading it costs no I/O.
"""
import fcntl
import json
import os
import socket
import sys
import threading

CHUNK = 1 << 20
SPLICE_F_MOVE = getattr(os, "SPLICE_F_MOVE", 1)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path
        self.buf = b""

    def read_more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Closed()
            self.read_more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_head(self) -> tuple:
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Closed()
            self.read_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, target, version, headers

    def discard_exact(self, n: int) -> int:
        """Reads exactly n body bytes and throws them away; returns the count read."""
        got = min(n, len(self.buf))
        self.buf = self.buf[got:]
        if got == n:
            return got
        if hasattr(os, "splice"):
            r, w = os.pipe()
            try:
                try:
                    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, CHUNK)
                except (AttributeError, OSError):
                    pass  # a 64 KiB pipe only means more splice calls
                with open(os.devnull, "wb") as null:
                    while got < n:
                        moved = os.splice(self.sock.fileno(), w, min(CHUNK, n - got),
                                          flags=SPLICE_F_MOVE)
                        if moved == 0:
                            raise Closed()
                        left = moved
                        while left:
                            left -= os.splice(r, null.fileno(), left, flags=SPLICE_F_MOVE)
                        got += moved
            finally:
                os.close(r)
                os.close(w)
            return got
        scratch = bytearray(CHUNK)
        view = memoryview(scratch)
        while got < n:
            k = self.sock.recv_into(view[: min(CHUNK, n - got)])
            if k == 0:
                raise Closed()
            got += k
        return got

    def discard_chunked(self) -> int:
        total = 0
        while True:
            size = int(self.read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self.read_line():  # trailers, then the empty line
                    pass
                return total
            total += self.discard_exact(size)
            if self.read_line() != b"":
                raise Closed()

    def serve(self) -> None:
        while True:
            method, target, version, headers = self.read_head()
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            if method in ("POST", "PUT"):
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    received = self.discard_chunked()
                else:
                    received = self.discard_exact(int(headers.get("content-length", "0")))
                body = json.dumps({"received": received}).encode()
                self.send_head(200, len(body), "application/json", close, headers)
                self.sock.sendall(body)
            elif method in ("GET", "HEAD"):
                size = os.path.getsize(self.path)
                query = target.partition("?")[2]
                for param in query.split("&"):
                    if param.startswith("bytes="):
                        size = min(size, int(param[len("bytes="):]))
                self.send_head(200, size, "application/octet-stream", close, headers)
                if method == "GET":
                    with open(self.path, "rb") as f:
                        self.sock.sendfile(f, 0, size)
            else:
                self.send_head(405, 0, "text/plain", True, headers)
                return
            if close:
                return

    def send_head(self, status: int, length: int, ctype: str, close: bool,
                  request_headers: dict) -> None:
        reason = {200: "OK", 405: "Method Not Allowed"}[status]
        seen = request_headers.get("authorization", "")
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {length}\r\nX-Seen-Authorization: {seen}\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
        self.sock.sendall(head.encode())


def handle(sock: socket.socket, path: str) -> None:
    try:
        Conn(sock, path).serve()
    except (Closed, OSError, ValueError):
        pass
    finally:
        sock.close()


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    while True:
        sock, _ = srv.accept()
        threading.Thread(target=handle, args=(sock, path), daemon=True).start()


if __name__ == "__main__":
    main()
