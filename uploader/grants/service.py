"""The grant service's HTTP face (Starlette): bearer-token authentication, a request-rate limit per token, every
body checked against the protocol's schema, and the broker's answers or refusals as JSON. The broker's blocking
work (SQLite, the store) runs in Starlette's thread pool. Built by `make_app`; served by `uploader.grants.serve`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from uploader.grants import protocol as proto
from uploader.grants.broker import Broker, Refusal
from uploader.grants.db import Token
from uploader.grants.protocol import Code

log = logging.getLogger(__name__)

# op -> (request schema definition, broker method name)
OPERATIONS: dict[str, tuple[str, str]] = {
    "put-url": ("put-url-request", "put_url"),
    "multipart": ("multipart-request", "multipart"),
    "part-url": ("part-url-request", "part_url"),
    "parts": ("parts-request", "parts"),
    "complete-file": ("complete-file-request", "complete_file"),
    "abort-file": ("abort-file-request", "abort_file"),
    "head": ("head-request", "head"),
    "discard": ("discard-request", "discard"),
    "complete": ("complete-request", "complete"),
}


class RateLimit:
    """A token bucket per expert token: `rate` requests a second on average, bursts of `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # token id -> (tokens, at)

    def wait_s(self, key: str) -> float:
        """0 when a request may go now (and counts it); else how long to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1, now)
            return 0.0


def _error(code: Code, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(proto.error_body(code, message), status_code=proto.STATUS[code], headers=headers)


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > proto.MAX_BODY_BYTES:
            raise Refusal(Code.BAD_REQUEST, f"request body over {proto.MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def make_app(broker: Broker, *, rate: float = 20.0, burst: int = 200) -> Starlette:
    """The service for `broker`'s store and database; `rate`/`burst`: requests per second and token."""
    limit = RateLimit(rate, burst)

    def authenticate(request: Request) -> Token:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        token = broker.db.find_token(secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
        if token is None:
            client = request.client.host if request.client else "?"
            if limit.wait_s(f"unknown@{client}") > 0:  # guessing tokens, or a flood: no audit row for each
                raise Refusal(Code.RATE_LIMITED, "too many requests with unknown tokens: wait")
            broker.db.audit("auth", "token-unknown", detail=f"{client} {request.url.path[:200]}")
            raise Refusal(Code.TOKEN_UNKNOWN, "the grant service does not know this token: ask the lab for one")
        state = token.state()
        if state != "active":
            broker.db.audit("auth", f"token-{state}", token=token, detail=request.url.path)
            code = Code.TOKEN_REVOKED if state == "revoked" else Code.TOKEN_EXPIRED
            raise Refusal(code, f"this token was {state}: ask the lab for a new one")
        broker.db.touch(token.id)
        return token

    def handler(
        work: Callable[[Request, Token], Awaitable[dict[str, Any]]],
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            token: Token | None = None
            try:
                token = await run_in_threadpool(authenticate, request)
                wait = limit.wait_s(token.id)
                if wait > 0:
                    return _error(
                        Code.RATE_LIMITED,
                        f"too many requests: wait {wait:.1f} s",
                        {"Retry-After": str(max(1, round(wait)))},
                    )
                return JSONResponse(await work(request, token))
            except Refusal as e:
                if token is not None and not (e.code == Code.NOT_FOUND and request.url.path.endswith("/head")):
                    session_id = request.path_params.get("session_id")
                    await run_in_threadpool(
                        broker.db.audit,
                        request.url.path.rsplit("/", 1)[-1],
                        str(e.code),
                        token=token,
                        session_id=session_id,
                        detail=e.message[:300],
                    )
                return _error(e.code, e.message)
            except proto.ProtocolError as e:
                return _error(Code.BAD_REQUEST, str(e))
            except Exception:
                log.exception("grant request %s failed", request.url.path)
                return _error(Code.STORE_ERROR, "the grant service failed on this request; see its log")

        return endpoint

    async def whoami(request: Request, token: Token) -> dict[str, Any]:
        return dict(await run_in_threadpool(broker.whoami, token))

    async def open_bundle(request: Request, token: Token) -> dict[str, Any]:
        body = proto.parse("open-request", await _body(request))
        return dict(await run_in_threadpool(broker.open, token, body))

    async def operation(request: Request, token: Token) -> dict[str, Any]:
        op = request.path_params["op"]
        if op not in OPERATIONS:
            raise Refusal(Code.NOT_FOUND, f"no operation {op[:40]!r} (protocol {proto.PROTOCOL})")
        definition, method = OPERATIONS[op]
        body = proto.parse(definition, await _body(request))
        return dict(await run_in_threadpool(getattr(broker, method), token, request.path_params["session_id"], body))

    routes = [
        Route(proto.WHOAMI, handler(whoami), methods=["GET"]),
        Route(proto.BUNDLES, handler(open_bundle), methods=["POST"]),
        Route(proto.BUNDLES + "/{session_id}/{op}", handler(operation), methods=["POST"]),
    ]
    return Starlette(routes=routes)
