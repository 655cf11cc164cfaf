"""`trajrec store [show|set KEY=VALUE...|check|reset]`: where bundles are uploaded to."""

from __future__ import annotations

import argparse
import json
from typing import Any

from recorder.dirs import uploader_dirs
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode

BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "store",
        help="show or change the store bundles are uploaded to",
        description="With no settings, bundles go to the embedded store: a local S3-compatible server "
        "trajrec starts itself over a folder in the data directory. One setting points trajrec at AWS S3, "
        "MinIO, R2 or any S3-compatible store, e.g. `trajrec store set bucket=lab-trajectories "
        "endpoint_url=https://s3.example.com prefix=team-a`. Credentials come from the usual AWS places "
        "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, `profile=NAME`), never from this file.",
        epilog="Keys: bucket, prefix, endpoint_url, region, addressing_style (auto|path|virtual), profile, "
        "verify_tls (true|false), embedded (true|false). `check` exits 0 when the store answers and accepts "
        "the credentials, 3 otherwise.",
    )
    p.add_argument("action", nargs="?", default="show", choices=("show", "set", "check", "reset"))
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="for set")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _parse(pairs: list[str]) -> dict[str, Any]:
    from uploader.config import ADDRESSING_STYLES, StoreConfig

    known = {f for f in StoreConfig.__dataclass_fields__}
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
    from uploader.server import open_store
    from uploader.store import endpoint_label

    dirs = uploader_dirs()
    path = dirs.settings
    if args.action != "set" and args.settings:
        raise UsageError(f"store {args.action}: takes no KEY=VALUE")
    try:
        if args.action == "reset":
            path.unlink(missing_ok=True)
            print(f"store settings removed ({path}): bundles go to the embedded local store")
            return ExitCode.OK
        if args.action == "set":
            if not args.settings:
                raise UsageError("store set: give at least one KEY=VALUE")
            changes = _parse(args.settings)
            try:
                current = load_config(path=path)
            except StoreConfigError:  # nothing saved yet names a bucket (AWS_ENDPOINT_URL alone): this does
                if not changes.get("bucket"):
                    raise
                current = load_config(f"s3://{changes['bucket']}", path=path)
            if changes.get("endpoint_url"):
                changes.setdefault("embedded", False)
            if current.embedded and not changes.get("embedded", True):
                current = StoreConfig(bucket=changes.get("bucket") or current.bucket)
            if changes.get("embedded"):
                changes["endpoint_url"] = None
            config = replace(current, **changes)
            save_config(config, path)
            print(f"saved {path}")
        config = load_config(path=path)
    except StoreConfigError as e:
        raise UsageError(str(e)) from e
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
