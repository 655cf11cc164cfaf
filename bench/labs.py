"""Benchmark the labs' toolkit: `trajrec actions`, `trajrec export --format steps` and `trajrec report` over a batch
of bundles, next to the floor of decoding the same frames with ffmpeg.

For each bundle, the frames the export writes are read back from its steps.jsonl; the references decode the same
video with ffmpeg (its own threads, one bundle after the other, as the export runs with --jobs 1):

- decode floor: ffmpeg decodes the video and keeps exactly those frames as RGB (`select` filter, output discarded);
- decode + PNG: the same, writing them as PNG files (what the export's output costs ffmpeg).

Peak memory is each process's VmHWM (bench/capture.py's Child); "flat" compares the export of a quarter of the
batch with the whole batch. Bundles come from bench/validate.py's cache (synthetic, realistic length; copies under
new session ids fill the batch). Prints numbers, asserts nothing about speed.

    .venv/bin/python bench/labs.py [--bundles 16] [--unique 4] [--minutes 10] [--size 1920x1080] [--repeat 1]
                                   [--image png] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capture import Child  # bench/ is on sys.path when this file runs
from validate import ensure_bundles, parse_size, positive, trajrec_cmd, with_copies

MB = 1_000_000


class BenchError(Exception):
    pass


@dataclass
class Timed:
    name: str
    walls: list[float] = field(default_factory=list)
    peak_mb: float = 0.0

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)


def run(name: str, cmd: list[str], work: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, which must exit with one of `ok`."""
    t0 = time.perf_counter()
    child = Child(name, cmd, env=dict(os.environ), workdir=work)
    while child.running:
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    if child.exit_code not in ok:
        raise BenchError(f"{name} exited {child.exit_code}: {child.stderr()[-600:]}")
    return wall, child.peak_rss_kb * 1024 / MB


def frames_written(export_dir: Path, bundle: Path) -> list[int]:
    steps = [json.loads(line) for line in (export_dir / bundle.name / "steps.jsonl").read_text().splitlines()]
    return sorted({s["structured"][k] for s in steps for k in ("frame_before", "frame_after")} - {None})


def any_of(frames: list[int]) -> str:
    """An ffmpeg expression true for the frame numbers in `frames`: a balanced sum (its parser recurses per term)."""
    if not frames:
        return "0"
    if len(frames) == 1:
        return f"eq(n,{frames[0]})"
    mid = len(frames) // 2
    return f"({any_of(frames[:mid])}+{any_of(frames[mid:])})"


def ffmpeg_cmd(bundle: Path, frames: list[int], out: Path | None) -> list[str]:
    expr = any_of(frames)
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(bundle / "screen" / "video.mp4"),
           "-vf", f"select='{expr}',format=rgb24", "-fps_mode", "passthrough"]  # fmt: skip
    if out is None:
        return [*cmd, "-f", "rawvideo", "-y", "/dev/null"]
    return [*cmd, "-compression_level", "1", "-f", "image2", "-y", str(out / "%06d.png")]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--bundles", type=positive(int), default=16, help="bundles in the batch (16)")
    p.add_argument("--unique", type=positive(int), default=4, help="of which generated (4); the rest are copies")
    p.add_argument("--minutes", type=positive(float), default=10.0, help="length of each bundle (10)")
    p.add_argument("--size", type=parse_size, default=(1920, 1080), help="video size WxH (1920x1080)")
    p.add_argument("--repeat", type=positive(int), default=1, help="timed runs per command; medians (1)")
    p.add_argument("--image", choices=("png", "webp", "jpeg"), default="png", help="the export's screenshots (png)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = p.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("bench/labs.py: ffmpeg not found (scripts/setup.sh --bench installs it)", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    width, height = args.size
    unique = ensure_bundles(min(args.unique, args.bundles), args.minutes, width, height, 2, log)
    bundles = with_copies(unique, args.bundles, log)
    quarter = bundles[: max(1, len(bundles) // 4)]
    tr = trajrec_cmd()
    timed = {k: Timed(k) for k in ("actions", "export", "export_quarter", "report", "ffmpeg_decode", "ffmpeg_png")}
    written: dict[Path, list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-labs-") as tmp:
        work = Path(tmp)
        try:
            for r in range(args.repeat):
                log(f"run {r + 1}/{args.repeat}")
                for name, cmd in (
                    ("export", [*tr, "export", "--format", "steps", "--image", args.image, "--progress", "never", "-q",
                                str(work / f"export{r}"), *map(str, bundles)]),
                    ("export_quarter", [*tr, "export", "--format", "steps", "--image", args.image, "--progress",
                                        "never", "-q", str(work / f"quarter{r}"), *map(str, quarter)]),
                    ("report", [*tr, "report", "--no-sidecars", "--jobs", "1", "--progress", "never", "-q",
                                *map(str, bundles)]),
                ):  # fmt: skip
                    wall, peak = run(name, cmd, work, (0, 1) if name == "report" else (0,))  # 1: a bundle failed
                    timed[name].walls.append(wall)
                    timed[name].peak_mb = max(timed[name].peak_mb, peak)
                    log(f"  {name}: {wall:.1f} s, peak {peak:.0f} MB")
                walls, peak = 0.0, 0.0
                for b in bundles:
                    w, pk = run("actions", [*tr, "actions", "--json", str(b)], work)
                    walls, peak = walls + w, max(peak, pk)
                timed["actions"].walls.append(walls)
                timed["actions"].peak_mb = max(timed["actions"].peak_mb, peak)
                log(f"  actions: {walls:.1f} s")
                written = {b: frames_written(work / f"export{r}", b) for b in bundles}
                for name in ("ffmpeg_decode", "ffmpeg_png"):
                    walls, peak = 0.0, 0.0
                    for b in bundles:
                        out = work / f"{name}-{b.name}"
                        out.mkdir()
                        w, pk = run(name, ffmpeg_cmd(b, written[b], out if name == "ffmpeg_png" else None), work)
                        walls, peak = walls + w, max(peak, pk)
                        if name == "ffmpeg_png" and len(list(out.iterdir())) != len(written[b]):
                            raise BenchError(f"ffmpeg wrote {len(list(out.iterdir()))} of {len(written[b])} frames")
                        shutil.rmtree(out)
                    timed[name].walls.append(walls)
                    timed[name].peak_mb = max(timed[name].peak_mb, peak)
                    log(f"  {name}: {walls:.1f} s")
                shutil.rmtree(work / f"export{r}")
                shutil.rmtree(work / f"quarter{r}")
        except BenchError as e:
            print(f"bench/labs.py: {e}", file=sys.stderr)
            return 1
    n = len(bundles)
    frames = sum(len(v) for v in written.values())
    res: dict[str, Any] = {
        "config": {
            "bundles": n,
            "unique": len(unique),
            "minutes": args.minutes,
            "size": f"{width}x{height}",
            "image": args.image,
            "repeat": args.repeat,
            "frames_written": frames,
        },
        "commands": {
            k: {
                "wall_s": round(t.wall, 2),
                "bundles_per_s": round((len(quarter) if "quarter" in k else n) / t.wall, 3),
                "peak_mb": round(t.peak_mb),
            }
            for k, t in timed.items()
        },
        "ratios": {
            "export_vs_decode_floor": round(timed["export"].wall / timed["ffmpeg_decode"].wall, 2),
            "export_vs_ffmpeg_png": round(timed["export"].wall / timed["ffmpeg_png"].wall, 2),
            "export_peak_whole_vs_quarter": round(timed["export"].peak_mb / timed["export_quarter"].peak_mb, 2),
        },
    }
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{n} bundles x {args.minutes:g} min {width}x{height}; the export wrote {frames} screenshots ({args.image})")
    print(f"{'command':<34}{'wall s':>9}{'bundles/s':>11}{'peak MB':>9}")
    labels = {
        "actions": "trajrec actions (each bundle)",
        "export": "trajrec export --format steps",
        "export_quarter": f"  the same, {len(quarter)} bundles",
        "report": "trajrec report",
        "ffmpeg_decode": "ffmpeg: decode those frames",
        "ffmpeg_png": "ffmpeg: decode + write PNG",
    }
    for k, c in res["commands"].items():
        print(f"{labels[k]:<34}{c['wall_s']:>9.1f}{c['bundles_per_s']:>11.3f}{c['peak_mb']:>9}")
    r_ = res["ratios"]
    print(f"export / decode floor: {r_['export_vs_decode_floor']:.2f}x (target <= 1.5x); "
          f"export / ffmpeg decode+PNG: {r_['export_vs_ffmpeg_png']:.2f}x; "
          f"peak memory, whole batch / quarter: {r_['export_peak_whole_vs_quarter']:.2f}x (flat: ~1.0)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
