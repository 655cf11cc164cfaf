"""`trajrec grants serve|token|audit`: the lab's grant service, which lets experts upload without the store's keys,
and the tokens it accepts."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from recorder.dirs import uploader_dirs
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.logs import data_dir
from recorder.terminal import console, one_line

GiB = 1024**3
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `90m`, `45s`, `2w` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not m or float(m[1]) <= 0:
        raise UsageError(f"{text!r} is not a duration: write e.g. 30d, 12h, 90m")
    return float(m[1]) * _UNITS[m[2]]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "grants",
        help="the lab's upload grant service, and the experts' tokens",
        description="A lab runs `trajrec grants serve` next to its bucket: it holds the store's credentials and "
        "gives each expert short-lived, narrowly scoped upload rights (presigned PUTs and parts under "
        "PREFIX/EXPERT/SESSION_ID/), checks every file it receives (size and SHA-256, read back from the store) "
        "and writes manifest.json itself, last. Experts authenticate with a token from `trajrec grants token "
        "add`, shown once and kept only as a hash; every grant and refusal goes to the audit log.",
        epilog="Experts then run `trajrec store set grant_url=URL token=TOKEN`. Exit codes: 0 ok, 2 usage error, "
        "3 failure (the store or the database could not be used).",
    )
    p.add_argument(
        "--db", type=Path, default=None, help="the service's database (default: grants.sqlite in the data dir)"
    )
    acts = p.add_subparsers(dest="grants_action", metavar="ACTION", required=True)

    s = acts.add_parser("serve", help="run the grant service", description="Serve until Ctrl+C or SIGTERM.")
    s.add_argument("--listen", default="127.0.0.1:8443", metavar="HOST:PORT", help="default 127.0.0.1:8443")
    s.add_argument(
        "--store",
        metavar="s3://BUCKET/PREFIX",
        help="where bundles go (default: the store settings "
        "file, AWS_ENDPOINT_URL and the AWS credentials, else the embedded store); `embedded` for the "
        "embedded local store",
    )
    s.add_argument("--profile", help="AWS profile with the store's credentials")
    s.add_argument("--cert", type=Path, help="TLS certificate (PEM); without it, only a loopback address is served")
    s.add_argument("--key", type=Path, help="TLS private key (PEM)")
    s.add_argument("--url-ttl", default="15m", metavar="DURATION", help="how long a presigned URL works (15m)")
    s.add_argument("--rate", type=float, default=20.0, metavar="N", help="requests per second per token (20)")
    s.set_defaults(run=run_serve)

    t = acts.add_parser("token", help="add, list or revoke experts' tokens")
    tacts = t.add_subparsers(dest="token_action", metavar="ACTION", required=True)
    add = tacts.add_parser("add", help="issue a token for EXPERT (printed once)")
    add.add_argument("expert", help="the expert's name: their bundles go under PREFIX/EXPERT/")
    add.add_argument("--expires", metavar="DURATION", help="e.g. 30d (default: never)")
    add.add_argument("--max-gib", type=float, metavar="GiB", help="upload quota of the token (default: none)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(run=run_token_add)
    ls = tacts.add_parser("list", help="every token: expert, state, quota, last use (never the token)")
    ls.add_argument("--expert")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_token_list)
    rv = tacts.add_parser("revoke", help="revoke a token by id, or every token of an expert")
    rv.add_argument("which", metavar="ID|EXPERT")
    rv.add_argument("--json", action="store_true")
    rv.set_defaults(run=run_token_revoke)

    a = acts.add_parser("audit", help="the audit log: every grant and refusal")
    a.add_argument("--expert")
    a.add_argument("--since", metavar="DURATION", help="e.g. 1d")
    a.add_argument("--limit", type=int, default=1000)
    a.add_argument("--json", action="store_true")
    a.set_defaults(run=run_audit)


def _db(args: argparse.Namespace) -> Any:
    from uploader.grants.db import GrantDB

    return GrantDB(args.db or data_dir() / "grants.sqlite")


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def run_serve(args: argparse.Namespace) -> ExitCode:
    from uploader.config import DEFAULT_BUCKET, StoreConfig, load_config
    from uploader.grants.serve import ServeOptions, serve

    dirs = uploader_dirs()
    if args.store == "embedded":
        store = StoreConfig(bucket=DEFAULT_BUCKET, addressing_style="path", embedded=True)
    else:
        store = load_config(args.store, profile=args.profile, path=dirs.settings)
    if store.grant_url:
        raise UsageError("the service's store settings name a grant_url: give the store itself with --store")
    ttl = int(parse_duration(args.url_ttl))
    if not 1 <= ttl <= 7 * 86400 or args.rate <= 0:
        raise UsageError("--url-ttl must be 1s..7d (SigV4's limit) and --rate above 0")
    options = ServeOptions(args.listen, args.cert, args.key, ttl, args.rate, max(1, int(args.rate * 10)))

    def ready(url: str) -> None:
        print(f"grant service for {store.url} listening on {url}", flush=True)

    serve(store, args.db or data_dir() / "grants.sqlite", dirs, options, ready)
    return ExitCode.OK


def run_token_add(args: argparse.Namespace) -> ExitCode:
    expires = time.time() + parse_duration(args.expires) if args.expires else None
    if args.max_gib is not None and args.max_gib <= 0:
        raise UsageError("--max-gib must be above 0")
    quota = None if args.max_gib is None else int(args.max_gib * GiB)
    with _db(args) as db:
        try:
            token, secret = db.add_token(args.expert, expires_at=expires, quota_bytes=quota)
        except ValueError as e:
            raise UsageError(str(e)) from e
    if args.json:
        print(
            json.dumps(
                {"id": token.id, "expert": token.expert, "token": secret, "expires_at": expires, "quota_bytes": quota}
            )
        )
    else:
        print(secret)
        console(stderr=True).print(
            f"token {token.id} for {one_line(token.expert)}: shown once, give it to the expert "
            "(`trajrec store set grant_url=URL token=TOKEN`)",
            markup=False,
        )
    return ExitCode.OK


def _token_dict(t: Any, used: int) -> dict[str, Any]:
    return {
        "id": t.id,
        "expert": t.expert,
        "state": t.state(),
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "quota_bytes": t.quota_bytes,
        "used_bytes": used,
        "revoked_at": t.revoked_at,
        "last_used_at": t.last_used_at,
    }


def run_token_list(args: argparse.Namespace) -> ExitCode:
    with _db(args) as db:
        rows = [_token_dict(t, db.used_bytes(t.id)) for t in db.tokens(args.expert)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return ExitCode.OK
    out = console()
    if not rows:
        out.print("no tokens", markup=False)
    for r in rows:
        quota = (
            "no quota"
            if r["quota_bytes"] is None
            else f"{r['used_bytes'] / GiB:.2f} of {r['quota_bytes'] / GiB:.2f} GiB"
        )
        out.print(
            f"{r['id']}  {one_line(r['expert'])}  {r['state']}  expires {_when(r['expires_at'])}  {quota}  "
            f"last used {_when(r['last_used_at'])}",
            markup=False,
        )
    return ExitCode.OK


def run_token_revoke(args: argparse.Namespace) -> ExitCode:
    with _db(args) as db:
        revoked = db.revoke(args.which)
    if args.json:
        print(json.dumps([t.id for t in revoked]))
    elif revoked:
        print(f"revoked {', '.join(t.id for t in revoked)}: refused from the next request on")
    if not revoked:
        print(f"trajrec grants: no active token {one_line(args.which)}", file=sys.stderr)
        return ExitCode.FAILURE
    return ExitCode.OK


def run_audit(args: argparse.Namespace) -> ExitCode:
    since = time.time() - parse_duration(args.since) if args.since else None
    with _db(args) as db:
        rows = db.audit_log(expert=args.expert, since=since, limit=max(1, args.limit))
    if args.json:
        print(json.dumps(rows, indent=2))
        return ExitCode.OK
    out = console()
    for r in rows:
        parts = [_when(r["at"]), r["expert"] or "-", r["action"], r["outcome"], r["session_id"] or "", r["path"] or ""]
        size = "" if r["bytes"] is None else f"{r['bytes']} B"
        out.print(one_line("  ".join(str(p) for p in [*parts, size, r["detail"] or ""] if p != "")), markup=False)
    return ExitCode.OK
