"""Benchmark `trajrec validate` (quick and deep) against the floor for the same bytes.

Validates N synthetic bundles of realistic length with the CLI (a subprocess, so Python start-up is
included in the wall time; the CLI's own in-process time is reported too) and runs the reference tools
over exactly the same files with the same parallelism:

- quick: `sha256sum` over every file of each bundle (one process per bundle, --jobs at a time), and
         `openssl dgst -sha256` the same way (uses the CPU's SHA extensions, which sha256sum may not);
- deep:  `ffprobe -count_frames` on the video (video frames only), the same plus `ffmpeg -f null` on the
         FLAC voiceover (deep mode decodes audio too), and both plus `sha256sum` (deep mode hashes first).

Bundles are generated once with `recorder.sealing.synthetic` and cached under bench/.cache/, keyed by
spec. Page caches cannot be dropped here, so one untimed warm-up pass of every command runs first and
all timed runs read from the page cache. Prints numbers, asserts nothing about speed.

    .venv/bin/python bench/validate.py [--bundles 4] [--minutes 10] [--size 1920x1080] [--jobs 2]
                                       [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import recorder
from recorder.sealing import synthetic
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle

CACHE = Path(__file__).resolve().parent / ".cache"
MB = 1_000_000


# --- bundles --------------------------------------------------------------------------------------
def bundle_id(spec: SyntheticSpec) -> str:
    """Cache key and session id: readable spec plus a digest of every field, the recorder version and the
    generator's source (so a fixed generator does not keep serving stale bundles)."""
    source = Path(synthetic.__file__).read_bytes()
    digest = hashlib.sha256(f"{recorder.__version__} {spec!r} ".encode() + source).hexdigest()[:8]
    seconds = f"{spec.duration_s:.3f}".rstrip("0").rstrip(".")
    return f"bench-{spec.width}x{spec.height}-{seconds}s-seed{spec.seed}-{digest}"


def _generate(spec: SyntheticSpec, sid: str, cache: Path) -> float:
    """Synthesize one bundle into cache/sid (atomically: built in a scratch dir, then renamed)."""
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix=".gen-", dir=cache))
    try:
        bundle, _ = synthesize_bundle(scratch, spec, session_id=sid)
        os.replace(bundle, cache / sid)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return time.perf_counter() - t0


def ensure_bundles(
    n: int, minutes: float, width: int, height: int, jobs: int, log: Callable[[str], None], cache: Path = CACHE
) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    specs = [SyntheticSpec(duration_s=minutes * 60, width=width, height=height, audio=True, seed=i) for i in range(n)]
    ids = [bundle_id(s) for s in specs]
    missing = [(s, sid) for s, sid in zip(specs, ids, strict=True) if not (cache / sid / "manifest.json").exists()]
    if missing:
        log(
            f"generating {len(missing)} of {n} bundles ({minutes:g} min {width}x{height}) into {cache} "
            f"with {jobs} processes ..."
        )
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_generate, s, sid, cache) for s, sid in missing]
            for (_, sid), fut in zip(missing, futures, strict=True):
                log(f"  {sid}: {fut.result():.1f} s")
        log(f"generated in {time.perf_counter() - t0:.1f} s")
    else:
        log(f"reusing {n} cached bundles from {cache}")
    return [cache / sid for sid in ids]


def with_copies(unique: list[Path], n: int, log: Callable[[str], None]) -> list[Path]:
    """`n` bundles: the unique ones, then byte-identical copies of them under new session ids (a lab batch
    without generating every bundle; each copy is a valid bundle of its own)."""
    out = list(unique)
    for k in range(len(unique), n):
        src = unique[k % len(unique)]
        sid = f"{src.name}-copy{k}"
        dst = src.parent / sid
        if not (dst / "manifest.json").exists():
            scratch = src.parent / f".{sid}.tmp"
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(src, scratch)
            manifest = json.loads((scratch / "manifest.json").read_bytes())
            manifest["session_id"] = sid  # not in its own file list: the copy stays valid
            (scratch / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            shutil.rmtree(dst, ignore_errors=True)
            os.replace(scratch, dst)
            log(f"  copied {src.name} as {sid}")
        out.append(dst)
    return out


def bundle_files(bundle: Path) -> list[Path]:
    """Every regular file of a bundle (manifest.json included), in a stable order."""
    return sorted(p for p in bundle.rglob("*") if p.is_file())


# --- commands -------------------------------------------------------------------------------------
def trajrec_cmd() -> list[str]:
    script = Path(sys.executable).parent / "trajrec"  # the venv's console script, not resolved
    if script.exists():
        return [str(script)]
    found = shutil.which("trajrec")
    return [found] if found else [sys.executable, "-m", "recorder.cli"]


def run_checked(cmd: Sequence[str]) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:3])} ... exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    return proc.stdout


class BenchError(Exception):
    pass


@dataclass
class Case:
    mode: str  # quick | deep
    tool: str
    run: Callable[[], float | None]  # returns the in-process seconds when the tool reports them
    ours: bool = False
    walls: list[float] = field(default_factory=list)
    inproc: list[float] = field(default_factory=list)

    def time(self) -> None:
        t0 = time.perf_counter()
        inner = self.run()
        self.walls.append(time.perf_counter() - t0)
        if inner is not None:
            self.inproc.append(inner)


def make_cases(bundles: list[Path], jobs: int, total_bytes: int, have_ffmpeg: bool, have_openssl: bool) -> list[Case]:
    files = {b: [str(p) for p in bundle_files(b)] for b in bundles}
    manifests = {b: json.loads((b / "manifest.json").read_bytes()) for b in bundles}
    # the CLI's summary.bytes counts what it hashes: every listed file, i.e. all but manifest.json itself
    hashed_bytes = total_bytes - sum((b / "manifest.json").stat().st_size for b in bundles)

    def ours(deep: bool) -> Callable[[], float]:
        cmd = [
            *trajrec_cmd(),
            "validate",
            "--jobs",
            str(jobs),
            "--json",
            "--progress",
            "never",
            *(["--deep"] if deep else []),
            *map(str, bundles),
        ]

        def run() -> float:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            try:
                doc = json.loads(proc.stdout)
            except json.JSONDecodeError as e:
                raise BenchError(
                    f"trajrec validate exited {proc.returncode} without JSON: {proc.stderr.strip()[:500]}"
                ) from e
            bad = [f"{r['path']}: {[f['code'] for f in r['findings']]}" for r in doc["bundles"] if not r["valid"]]
            if proc.returncode != 0 or bad:
                raise BenchError(
                    f"trajrec validate{' --deep' if deep else ''} exited {proc.returncode}; "
                    f"invalid: {bad} (stale cache? delete {CACHE})"
                )
            s = doc["summary"]
            if s["bundles"] != len(bundles) or s["bytes"] != hashed_bytes:
                raise BenchError(
                    f"trajrec validate checked {s['bundles']} bundles / {s['bytes']} bytes, "
                    f"expected {len(bundles)} / {hashed_bytes}"
                )
            return float(s["seconds"])

        return run

    def per_bundle(job: Callable[[Path], None]) -> Callable[[], None]:
        def run() -> None:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(job, bundles))  # re-raises the first failure

        return run

    def check_digests(b: Path, tool: str, got: dict[str, str]) -> None:
        want = {e["path"]: e["sha256"] for e in manifests[b]["files"]}
        got = {Path(path).relative_to(b).as_posix(): digest for path, digest in got.items()}
        got.pop("manifest.json", None)
        if got != want:
            raise BenchError(f"{b}: {tool} disagrees with the manifest")

    def sha256sum(b: Path) -> None:
        out = run_checked(["sha256sum", *files[b]])
        check_digests(b, "sha256sum", {line[66:]: line[:64] for line in out.splitlines()})

    def openssl(b: Path) -> None:  # "SHA2-256(path)= digest"
        out = run_checked(["openssl", "dgst", "-sha256", *files[b]])
        pairs = (line.rsplit(")= ", 1) for line in out.splitlines())
        check_digests(b, "openssl dgst", {head.split("(", 1)[1]: digest for head, digest in pairs})

    def ffprobe(b: Path) -> None:
        out = run_checked(
            [
                "ffprobe",
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
                str(b / "screen" / "video.mp4"),
            ]
        )
        if int(out.strip()) != manifests[b]["stats"]["frames"]:
            raise BenchError(
                f"{b}: ffprobe counted {out.strip()} frames, manifest says {manifests[b]['stats']['frames']}"
            )

    def ffmpeg_audio(b: Path) -> None:
        run_checked(["ffmpeg", "-nostdin", "-v", "error", "-i", str(b / "audio" / "voiceover.flac"), "-f", "null", "-"])

    def video_audio(b: Path) -> None:
        ffprobe(b)
        ffmpeg_audio(b)

    def hash_video_audio(b: Path) -> None:
        sha256sum(b)
        video_audio(b)

    def no_inproc(f: Callable[[], None]) -> Callable[[], float | None]:
        def run() -> float | None:
            f()
            return None

        return run

    cases = [
        Case("quick", "trajrec validate", ours(False), ours=True),
        Case("quick", "sha256sum", no_inproc(per_bundle(sha256sum))),
    ]
    if have_openssl:
        cases.append(Case("quick", "openssl dgst -sha256", no_inproc(per_bundle(openssl))))
    cases += [
        Case("deep", "trajrec validate --deep", ours(True), ours=True),
        Case("deep", "ffprobe -count_frames (video)", no_inproc(per_bundle(ffprobe))),
    ]
    if have_ffmpeg:
        cases += [
            Case("deep", "ffprobe + ffmpeg flac (video+audio)", no_inproc(per_bundle(video_audio))),
            Case("deep", "sha256sum + ffprobe + ffmpeg", no_inproc(per_bundle(hash_video_audio))),
        ]
    return cases


# --- report ---------------------------------------------------------------------------------------
def results(cases: list[Case], n: int, total_bytes: int, startup: float) -> dict[str, Any]:
    ours = {c.mode: c for c in cases if c.ours}
    rows = []
    for c in cases:
        wall = statistics.median(c.walls)
        row: dict[str, Any] = {
            "mode": c.mode,
            "tool": c.tool,
            "ours": c.ours,
            "median_wall_s": wall,
            "walls_s": c.walls,
            "bundles_per_s": n / wall,
            "mb_per_s": total_bytes / MB / wall,
        }
        if c.inproc:
            inner = statistics.median(c.inproc)
            row |= {"median_inproc_s": inner, "inproc_s": c.inproc, "inproc_mb_per_s": total_bytes / MB / inner}
        if not c.ours:
            mine = ours[c.mode]
            row["ratio"] = statistics.median(mine.walls) / wall
            row["ratio_inproc"] = statistics.median(mine.inproc) / wall
        rows.append(row)
    return {"bundles": n, "total_bytes": total_bytes, "startup_s": startup, "rows": rows}


def print_table(res: dict[str, Any], args: argparse.Namespace) -> None:
    n, total = res["bundles"], res["total_bytes"]
    print(
        f"\n{n} bundles ({args.unique_used} generated, the rest copies) x {args.minutes:g} min "
        f"{args.width}x{args.height}, {total} bytes "
        f"({total / MB:.1f} MB), --jobs {args.jobs}, median of {args.repeat} runs; page cache warm "
        "(one untimed pass of every command first; caches not dropped)\n"
    )
    head = f"{'mode':<6} {'tool':<38} {'median s':>9} {'bundles/s':>10} {'MB/s':>9} {'ratio':>7} {'in-proc':>8}"
    print(head)
    print("-" * len(head))
    for r in res["rows"]:
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "-"
        ratio_in = f"{r['ratio_inproc']:.2f}x" if "ratio_inproc" in r else "-"
        tool = r["tool"] + " (wall)" if r["ours"] else r["tool"]
        print(
            f"{r['mode']:<6} {tool:<38} {r['median_wall_s']:>9.3f} {r['bundles_per_s']:>10.2f} "
            f"{r['mb_per_s']:>9.1f} {ratio:>7} {ratio_in:>8}"
        )
        if "median_inproc_s" in r:
            inner = r["median_inproc_s"]
            print(
                f"{'':<6} {'  in-process (JSON summary.seconds)':<38} {inner:>9.3f} {n / inner:>10.2f} "
                f"{total / MB / inner:>9.1f} {'-':>7} {'-':>8}"
            )
    print()
    print(
        "ratio = our median wall time / the reference's (<1: we are faster); in-proc = the same with our "
        "in-process time."
    )
    print(
        f"Python start-up + imports (`trajrec --version`): {res['startup_s']:.3f} s median, included in our wall times."
    )
    print("MB/s is always the bundles' total bytes / wall time, whatever the tool reads: ffprobe reads only the video,")
    print(
        "ffmpeg only the FLAC. ffprobe -count_frames decodes only the video; `trajrec validate --deep` "
        "also hashes every"
    )
    print("file and decodes every audio sample, which the last two deep references add.")
    print(
        "The quick target (ours within 1.2x of sha256sum) is about the sha256sum row; openssl (SHA "
        "extensions when the CPU"
    )
    print("has them) shows how fast hashing alone can be where coreutils' sha256sum does not use them.")


# --- main -----------------------------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be even and at least 64")
    return w, h


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def conv(text: str) -> Any:
        v = kind(text)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not positive")
        return v

    return conv


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--bundles", type=positive(int), default=16, help="bundles to validate, a lab batch (16)")
    p.add_argument(
        "--unique",
        type=positive(int),
        default=4,
        help="of which generated (4); the rest are copies of them under new session ids",
    )
    p.add_argument("--minutes", type=positive(float), default=10.0, help="length of each bundle (10)")
    p.add_argument("--size", type=parse_size, default=(1920, 1080), help="video size WxH (1920x1080)")
    p.add_argument("--jobs", type=positive(int), default=2, help="parallelism, ours and references (2)")
    p.add_argument("--repeat", type=positive(int), default=3, help="timed runs per command; medians (3)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = p.parse_args(argv)
    args.width, args.height = args.size
    args.unique_used = min(args.unique, args.bundles)

    for tool in ("sha256sum", "ffprobe"):
        if shutil.which(tool) is None:
            print(
                f"bench/validate.py: `{tool}` not found on PATH (Debian: apt-get install coreutils ffmpeg)",
                file=sys.stderr,
            )
            return 2
    have_ffmpeg = shutil.which("ffmpeg") is not None

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        unique = ensure_bundles(min(args.unique, args.bundles), args.minutes, args.width, args.height, args.jobs, log)
        bundles = with_copies(unique, args.bundles, log)
        total_bytes = sum(f.stat().st_size for b in bundles for f in bundle_files(b))
        cases = make_cases(bundles, args.jobs, total_bytes, have_ffmpeg, shutil.which("openssl") is not None)
        if not have_ffmpeg:
            log("ffmpeg not found: the audio-decoding deep references are skipped")
        version = [*trajrec_cmd(), "--version"]

        log("warm-up: one untimed pass of every command (fills the page cache, checks every result)")
        run_checked(version)
        for c in cases:
            c.run()
        startup = []
        for r in range(args.repeat):
            log(f"timed run {r + 1}/{args.repeat}")
            t0 = time.perf_counter()
            run_checked(version)
            startup.append(time.perf_counter() - t0)
            for c in cases:  # interleaved, so drift affects every command alike
                c.time()
    except BenchError as e:
        print(f"bench/validate.py: {e}", file=sys.stderr)
        return 1

    res = results(cases, len(bundles), total_bytes, statistics.median(startup))
    if args.json:
        res["config"] = {
            "bundles": args.bundles,
            "unique": min(args.unique, args.bundles),
            "minutes": args.minutes,
            "size": f"{args.width}x{args.height}",
            "jobs": args.jobs,
            "repeat": args.repeat,
            "paths": [str(b) for b in bundles],
            "page_cache": "warm (one untimed pass first; caches not dropped)",
        }
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(res, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
