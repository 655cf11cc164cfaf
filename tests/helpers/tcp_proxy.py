"""A misbehaving TCP proxy on loopback for the uploader's tests: it sits between the S3 client and the
real server, reads each HTTP request's head to log what was asked (method, path, query, body size) and
can cut connections at random or flip a byte of a request body on purpose.

    with ChaosProxy(server_port, cut_probability=0.05, seed=1) as proxy:
        client = ... endpoint_url=proxy.url ...
        ...
        proxy.requests   # every request seen, with whether its body went through whole

Responses are relayed byte for byte. HTTP/1.1 keep-alive is followed by parsing Content-Length; a request
sent with chunked transfer encoding is relayed raw (and logged with body_bytes -1).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body_bytes: int  # Content-Length (-1: chunked or unknown)
    sent_bytes: int = 0  # body bytes passed on to the server
    cut: bool = False  # the proxy cut the connection during this request
    corrupted: bool = False  # the proxy flipped a byte of this request's body

    @property
    def part_number(self) -> int | None:
        v = self.query.get("partNumber")
        return int(v[0]) if v else None


@dataclass
class ChaosProxy:
    target_port: int
    target_host: str = "127.0.0.1"
    cut_probability: float = 0.0  # per 64 KiB chunk of request body: drop the connection
    corrupt_next: int = 0  # flip one byte in the bodies of the next N requests with a body of 64 KiB or more
    seed: int = 0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ChaosProxy:
        t = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for s in list(self._sockets):
                _close(s)
        for t in self._threads:
            t.join(2)

    def set(self, *, cut_probability: float | None = None, corrupt_next: int | None = None) -> None:
        with self._lock:
            if cut_probability is not None:
                self.cut_probability = cut_probability
            if corrupt_next is not None:
                self.corrupt_next = corrupt_next

    def part_uploads(self, *, whole: bool = True) -> list[Request]:
        """UploadPart requests (whole: only those whose body reached the server in full)."""
        with self._lock:
            parts = [r for r in self.requests if r.method == "PUT" and r.part_number is not None]
        return [r for r in parts if not whole or (not r.cut and r.sent_bytes == r.body_bytes)]

    # --- relaying --------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.target_host, self.target_port), timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for target, name in ((self._requests, "proxy-up"), (self._responses, "proxy-down")):
                t = threading.Thread(target=target, args=(client, upstream), name=name, daemon=True)
                t.start()
                self._threads.append(t)

    def _drop(self, *socks: socket.socket) -> None:
        for s in socks:
            _close(s)
        with self._lock:
            self._sockets.difference_update(socks)

    def _responses(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := upstream.recv(CHUNK):
                client.sendall(data)
        except OSError:
            pass
        self._drop(client, upstream)

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = client.recv(CHUNK)
                    if not data:
                        raise ConnectionAbortedError
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                request = self._log(head)
                upstream.sendall(head + b"\r\n\r\n")
                if request.body_bytes < 0:  # chunked: relay the rest raw, no more parsing
                    upstream.sendall(buf)
                    while data := client.recv(CHUNK):
                        upstream.sendall(data)
                    break
                remaining = request.body_bytes
                with self._lock:
                    corrupt = remaining >= CHUNK and self.corrupt_next > 0
                    if corrupt:
                        self.corrupt_next -= 1
                flip_at = self._rng.randrange(remaining) if corrupt else -1
                while remaining > 0:
                    if not buf:
                        buf = client.recv(min(CHUNK, remaining))
                        if not buf:
                            raise ConnectionAbortedError
                    piece, buf = buf[:remaining], buf[remaining:]
                    offset = request.body_bytes - remaining
                    if 0 <= flip_at - offset < len(piece):
                        i = flip_at - offset
                        piece = piece[:i] + bytes([piece[i] ^ 0x5A]) + piece[i + 1 :]
                        request.corrupted = True
                    with self._lock:
                        cut = self._rng.random() < self.cut_probability * len(piece) / CHUNK
                    if cut:
                        request.cut = True
                        raise ConnectionAbortedError
                    upstream.sendall(piece)
                    request.sent_bytes += len(piece)
                    remaining -= len(piece)
        except OSError:
            pass
        self._drop(client, upstream)

    def _log(self, head: bytes) -> Request:
        lines = head.decode("latin-1").split("\r\n")
        method, target = ([*lines[0].split(" "), "", ""])[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            length = -1
        else:
            length = int(headers.get("content-length", "0") or 0)
        url = urlsplit(target)
        request = Request(method, url.path, parse_qs(url.query, keep_blank_values=True), length)
        with self._lock:
            self.requests.append(request)
        return request


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
