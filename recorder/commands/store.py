"""`trajrec store [show|set KEY=VALUE...|check|reset]`: where bundles are uploaded to."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from typing import Any

from recorder.dirs import uploader_dirs
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.terminal import one_line

BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "store",
        help="show or change the store bundles are uploaded to",
        description="With no settings, bundles go to the embedded store: a local S3-compatible server "
        "trajrec starts itself over a folder in the data directory. One setting points trajrec at AWS S3, "
        "MinIO, R2 or any S3-compatible store, e.g. `trajrec store set bucket=lab-trajectories "
        "endpoint_url=https://s3.example.com prefix=team-a`. Credentials come from the usual AWS places "
        "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, `profile=NAME`), never from this file. A lab that "
        "runs a grant service gives its experts a URL and a token instead: `trajrec store set "
        "grant_url=https://lab.example/grants token=TOKEN`; this machine then holds no storage keys at all (the "
        "token goes to the platform's keyring, else a private file; it is never shown).",
        epilog="Keys: bucket, prefix, endpoint_url, region, addressing_style (auto|path|virtual), profile, "
        "verify_tls (true|false), embedded (true|false), grant_url, grant_ca (a PEM CA bundle for the grant "
        "service), token. `check` exits 0 when the store (or the grant service) answers and accepts the "
        "credentials (or the token), and says what quota is left; 3 otherwise.",
    )
    p.add_argument("action", nargs="?", default="show", choices=("show", "set", "check", "reset"))
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="for set")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _parse(pairs: list[str]) -> dict[str, Any]:
    from uploader.config import ADDRESSING_STYLES, StoreConfig

    known = {f for f in StoreConfig.__dataclass_fields__} | {"token"}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise UsageError(f"store set {pair!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}")
        if key in ("verify_tls", "embedded"):
            if value.lower() not in BOOL_WORDS:
                raise UsageError(f"store set {key}={value!r}: expected true or false")
            out[key] = BOOL_WORDS[value.lower()]
        elif key == "addressing_style" and value not in ADDRESSING_STYLES:
            raise UsageError(f"store set {key}={value!r}: expected one of {', '.join(ADDRESSING_STYLES)}")
        else:
            out[key] = value or None
    return out


def run(args: argparse.Namespace) -> ExitCode:
    from dataclasses import asdict, replace

    from uploader.config import StoreConfig, load_config, save_config
    from uploader.errors import StoreConfigError
    from uploader.grants.credential import forget_token, save_token, token_place
    from uploader.server import open_store
    from uploader.store import endpoint_label

    dirs = uploader_dirs()
    path = dirs.settings
    if args.action != "set" and args.settings:
        raise UsageError(f"store {args.action}: takes no KEY=VALUE")
    try:
        if args.action == "reset":
            with contextlib.suppress(StoreConfigError):
                if (old := load_config(path=path).grant_url) is not None:
                    forget_token(old, dirs.config)
            path.unlink(missing_ok=True)
            print(f"store settings removed ({path}): bundles go to the embedded local store")
            return ExitCode.OK
        if args.action == "set":
            if not args.settings:
                raise UsageError("store set: give at least one KEY=VALUE")
            changes = _parse(args.settings)
            token = changes.pop("token", None)
            try:
                current = load_config(path=path)
            except StoreConfigError:  # nothing saved yet names a bucket (AWS_ENDPOINT_URL alone): this does
                if not changes.get("bucket"):
                    raise
                current = load_config(f"s3://{changes['bucket']}", path=path)
            if changes.get("endpoint_url") or changes.get("bucket"):
                changes.setdefault("embedded", False)
                changes.setdefault("grant_url", None)  # naming a store directly leaves the grant service
            if changes.get("grant_url"):
                changes.update(embedded=False, endpoint_url=None)
            if current.embedded and not changes.get("embedded", True):
                current = StoreConfig(bucket=changes.get("bucket") or current.bucket)
            if changes.get("embedded"):
                changes["endpoint_url"] = None
            config = replace(current, **changes)
            if token is not None and not config.grant_url:
                raise UsageError("store set token=...: set grant_url too (the token is the grant service's)")
            save_config(config, path)
            print(f"saved {path}")
            if token is not None and config.grant_url:
                print(f"token kept in {save_token(config.grant_url, token, dirs.config)}")
        config = load_config(path=path)
    except StoreConfigError as e:
        raise UsageError(str(e)) from e
    if config.grant_url:
        return _grants(args, config, dirs, token_place(config.grant_url, dirs.config))
    where = "the embedded local store" if config.embedded else endpoint_label(config)
    if args.action == "check":
        with open_store(config, dirs) as handle:
            handle.check()
        message = f"{config.url} at {where}: reachable, credentials accepted, bucket present"
        print(json.dumps({"ok": True, "url": config.url, "endpoint": where}) if args.json else message)
        return ExitCode.OK
    if args.json:
        print(json.dumps({**asdict(config), "url": config.url, "endpoint": where, "settings": str(path)}, indent=2))
    else:
        print(f"uploads go to {config.url} on {where}")
        print(f"settings: {path}{'' if path.exists() else ' (none: defaults)'}")
    return ExitCode.OK


def _grants(args: argparse.Namespace, config: Any, dirs: Any, place: str | None) -> ExitCode:
    """show/check for a grant service: never the token, only where it is kept."""
    from uploader.server import open_store

    if args.action == "check":
        with open_store(config, dirs) as handle:
            grants: Any = handle.client  # uploader.grants.client.GrantS3
            who = grants.service.whoami()
        quota, used = who["quota_bytes"], who["used_bytes"]
        left = None if quota is None else max(0, quota - used)
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": True,
                        "url": config.grant_url,
                        "expert": who["expert"],
                        "prefix": who["prefix"],
                        "quota_bytes": quota,
                        "used_bytes": used,
                        "left_bytes": left,
                        "expires_at": who["expires_at"],
                    }
                )
            )
        else:
            room = "no quota" if left is None else f"{left / 2**30:.2f} GiB of {quota / 2**30:.2f} GiB left"
            until = (
                ""
                if who["expires_at"] is None
                else f", token valid until {time.strftime('%Y-%m-%d %H:%M', time.localtime(who['expires_at']))}"
            )
            print(  # the names come from the service: shown escaped
                one_line(
                    f"grant service {config.grant_url}: token accepted for {who['expert']} (bundles go to "
                    f"s3://{who['bucket']}/{who['prefix']}/), {room}{until}"
                )
            )
        return ExitCode.OK
    if args.json:
        print(
            json.dumps(
                {
                    "url": config.grant_url,
                    "grant_ca": config.grant_ca,
                    "token": place is not None,
                    "token_kept_in": place,
                    "settings": str(dirs.settings),
                },
                indent=2,
            )
        )
    else:
        print(f"uploads go through the grant service at {config.grant_url} (no storage keys on this machine)")
        print(f"token: {'kept in ' + place if place else 'none: run `trajrec store set token=TOKEN`'}")
        print(f"settings: {dirs.settings}")
    return ExitCode.OK
