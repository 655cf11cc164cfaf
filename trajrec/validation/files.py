"""Checks of the manifest and the file set: unsafe members, manifest size, JSON, format version and
schema, status and name, the clock, then exactly the files the streams call for, their sizes and SHA-256.

Until the schema check passes the manifest is an untrusted dict (`Context.raw`), read defensively;
after it, the checks get it typed as `Manifest`.
"""

from __future__ import annotations

from typing import cast

from trajrec import format as fmt
from trajrec.errors import BundleError
from trajrec.hashing import sha256_stream
from trajrec.manifest import FileJSON, Manifest, load_manifest, schema_errors
from trajrec.timeline import pause_spans
from trajrec.validation.context import Context, SessionSpan
from trajrec.validation.report import Code


def check_manifest(ctx: Context) -> Manifest | None:
    """The manifest, once it is there, readable, of a known version and follows the schema; else None
    (with findings), and nothing else is checked."""
    for u in ctx.src.unsafe:
        ctx.add(Code.UNSAFE_MEMBER, u.path, f"refused: {u.reason}")
    member = ctx.src.members.get(fmt.MANIFEST)
    if member is None:
        ctx.add(
            Code.MANIFEST_MISSING,
            fmt.MANIFEST,
            "no manifest.json: not a bundle, or sealing never finished (try `trajrec repair`)",
        )
        return None
    if member.size > fmt.MAX_MANIFEST_BYTES:
        ctx.add(
            Code.MANIFEST_TOO_LARGE,
            fmt.MANIFEST,
            f"{member.size} bytes, over the {fmt.MAX_MANIFEST_BYTES} byte limit; not read",
        )
        return None
    try:
        ctx.raw = load_manifest(ctx.src.read_bytes(fmt.MANIFEST, fmt.MAX_MANIFEST_BYTES))
    except BundleError as e:
        ctx.add(Code.MANIFEST_MALFORMED, fmt.MANIFEST, str(e).removeprefix("manifest.json "))
        return None
    raw = ctx.raw
    try:
        newer = fmt.check_format_version(raw.get("format_version"))
    except BundleError as e:
        ctx.add(Code.FORMAT_VERSION, fmt.MANIFEST, str(e))
        return None
    if newer:
        ctx.add(
            Code.FORMAT_NEWER,
            fmt.MANIFEST,
            f"format {raw['format_version']} is newer than {fmt.FORMAT_VERSION}: checked by {fmt.FORMAT_VERSION} rules",
        )
    # A newer minor may add fields; everything this version knows must still hold.
    errors = schema_errors(raw, ignore_unknown=newer)
    ctx.newer = newer
    for message in errors:
        ctx.add(Code.MANIFEST_SCHEMA, fmt.MANIFEST, message)
    if errors:
        return None
    m = cast(Manifest, raw)
    if m["status"] == fmt.Status.RECOVERED.value:
        notes = "; ".join(m.get("notes", [])) or "no notes"
        ctx.add(Code.STATUS_RECOVERED, fmt.MANIFEST, f"recovered after a crash: the end may be missing ({notes})")
    name = ctx.src.name
    if name and name != m["session_id"] and not name.startswith("."):
        ctx.add(
            Code.SESSION_ID_MISMATCH,
            "",
            f"bundle is named {name!r} but its session_id is {m['session_id']!r}",
        )
    return m


def check_clock(ctx: Context, m: Manifest) -> SessionSpan:
    """The session span and its pauses, after checking the clock agrees with itself and the stats."""
    c = m["clock"]
    start, end = c["start_ns"], c["end_ns"]
    problems = []
    if end < start:
        problems.append(f"end_ns {end} is before start_ns {start}")
    if m["stats"]["duration_ns"] != end - start:
        problems.append(f"stats.duration_ns {m['stats']['duration_ns']} != end_ns - start_ns ({end - start})")
    anchors = c["anchors"]
    monos = [a["mono_ns"] for a in anchors]
    if monos != sorted(monos):
        problems.append("anchors are not in time order")
    if anchors[0]["event"] != "start" or anchors[0]["mono_ns"] != start:
        problems.append("the first anchor is not the start anchor at start_ns")
    for p in problems:
        ctx.add(Code.CLOCK, fmt.MANIFEST, p)
    return SessionSpan(start, end, pause_spans(anchors, end))


def expected_files(m: Manifest) -> set[str]:
    """The files the format calls for, given which streams the manifest says are present."""
    s = m["streams"]
    want = {fmt.EVENTS, fmt.WINDOWS, fmt.MARKERS, fmt.RAW_LOG}
    if s["screen"]["present"]:
        want |= {fmt.VIDEO, fmt.FRAMES}
    if s["audio"]["present"]:
        want.add(fmt.AUDIO)
    if s.get("elements", {}).get("present"):
        want.add(fmt.ELEMENTS)
    return want


def check_files(ctx: Context, m: Manifest) -> None:
    """Exactly the expected files (and, in a newer minor version, whatever else it lists), listed once, each of its
    listed size and SHA-256. A file that fails
    (unlisted, missing, size, checksum) goes to `ctx.bad_files`: its content is not checked."""
    listed: dict[str, FileJSON] = {}
    for entry in m["files"]:
        if entry["path"] in listed:
            ctx.add(Code.FILE_DUPLICATE, entry["path"], "listed twice in the manifest")
        listed[entry["path"]] = entry
    want = expected_files(m)
    for path in sorted(set(listed) - want):
        if ctx.newer:  # a file a later minor version added: listed and checksummed, so checked, not judged
            continue
        ctx.add(Code.FILE_UNEXPECTED, path, "listed in the manifest but not part of the format for these streams")
    for path in sorted(want - set(listed)):
        ctx.add(Code.FILE_UNLISTED, path, "required by the streams in the manifest but not listed in files")
        ctx.bad_files.add(path)
    present = set(ctx.src.members) - {fmt.MANIFEST}
    for path in sorted(present - set(listed)):
        ctx.add(Code.FILE_EXTRA, path, f"{ctx.src.members[path].size} bytes not listed in the manifest")
    for path in sorted(listed):
        entry = listed[path]
        member = ctx.src.members.get(path)
        if member is None:
            ctx.add(Code.FILE_MISSING, path, f"listed ({entry['bytes']} bytes) but absent")
            ctx.bad_files.add(path)
            continue
        if member.size != entry["bytes"]:
            hint = " (truncated?)" if member.size < entry["bytes"] else ""
            ctx.add(Code.FILE_SIZE, path, f"{member.size} bytes, manifest says {entry['bytes']}{hint}")
            ctx.bad_files.add(path)
            continue
        with ctx.open_member(path, buffering=0) as f:
            digest, _ = sha256_stream(f, on_chunk=ctx.on_chunk)
        if digest != entry["sha256"]:
            ctx.add(
                Code.FILE_SHA256,
                path,
                f"sha256 {digest[:16]}... does not match the manifest's "
                f"{entry['sha256'][:16]}... (changed after sealing)",
            )
            ctx.bad_files.add(path)
