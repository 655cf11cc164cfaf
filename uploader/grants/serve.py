"""Run the grant service: bind the listening socket (TLS with a certificate and key; plain HTTP only on a loopback
address), open the database and the lab's store, and serve the app with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from uploader.config import StoreConfig
from uploader.dirs import Dirs
from uploader.errors import StoreConfigError
from uploader.grants.broker import Broker
from uploader.grants.db import GrantDB

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    listen: str = "127.0.0.1:8443"
    cert: Path | None = None
    key: Path | None = None
    url_ttl_s: int = 900
    rate: float = 20.0
    burst: int = 200


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise StoreConfigError(f"--listen {listen!r} is not HOST:PORT", "write it as 127.0.0.1:8443 or [::1]:8443")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(options: ServeOptions) -> tuple[socket.socket, str]:
    """The listening socket and the service's URL. Refuses plain HTTP off loopback and a half TLS pair."""
    host, port = parse_listen(options.listen)
    if (options.cert is None) != (options.key is None):
        raise StoreConfigError("TLS needs both --cert and --key", "give the certificate and its private key")
    if options.cert is None and not is_loopback(host):
        raise StoreConfigError(
            f"plain HTTP on {host} would send experts' tokens in clear",
            "give --cert and --key for TLS, or listen on 127.0.0.1 behind a TLS proxy",
        )
    if options.cert is not None and options.key is not None:
        try:  # a bad pair is one clear line here, not a traceback from inside uvicorn
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(options.cert, options.key)
        except (OSError, ssl.SSLError) as e:
            raise StoreConfigError(f"cannot use the TLS certificate and key ({e})", "check --cert and --key") from e
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: an answer's head and body go out at once, not 40 ms apart (Nagle's
    # algorithm waiting for the client's delayed ACK), which would cost every request of an upload 40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise StoreConfigError(f"cannot listen on {options.listen} ({e.strerror})", "choose another port") from e
    sock.listen(128)
    port = sock.getsockname()[1]
    scheme = "https" if options.cert else "http"
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"{scheme}://{shown}:{port}"


def serve(
    store: StoreConfig, db_path: Path, dirs: Dirs, options: ServeOptions, on_ready: Callable[[str], None]
) -> None:
    """Serve until interrupted. `on_ready(url)` is called once the socket listens (requests queue until the
    server runs)."""
    import uvicorn

    from uploader.grants.service import make_app
    from uploader.server import open_store

    sock, url = bind(options)
    with contextlib.closing(sock), GrantDB(db_path) as db, open_store(store, dirs) as handle:
        handle.check()
        broker = Broker(db, handle.client, handle.config, url_ttl_s=options.url_ttl_s)
        app = make_app(broker, rate=options.rate, burst=options.burst)
        config = uvicorn.Config(
            app,
            ssl_certfile=str(options.cert) if options.cert else None,
            ssl_keyfile=str(options.key) if options.key else None,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        on_ready(url)
        uvicorn.Server(config).run(sockets=[sock])
