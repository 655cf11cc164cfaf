"""Benchmark `trajrec.onscreen.scan_screen` against a reference OCR pipeline over the same keyframes.

A synthetic session (default 2 min at 1920x1080, generated once with `recorder.sealing.synthetic` and cached in
bench/.cache/) types shell and Python lines with an AWS key id, a card number and a ticket id among them into a
terminal. On its video, in one run:

- ours:      `scan_screen(reader, [PROJ-\\d{4}])` in this process (keyframes decoded alone, read where they
             changed, tesseract with OMP_THREAD_LIMIT=1 on as many frames at once as there are CPUs);
- reference: `ffmpeg -skip_frame nokey -i video.mp4 -vsync 0 frame%05d.png`, then the `tesseract` CLI
             (`tesseract frameNNNNN.png out tsv`) on each image: once as it comes (tesseract's defaults, one image
             after another), once tuned (OMP_THREAD_LIMIT=1, --jobs images at once).

CPU is user+sys of this process and the children it reaped (getrusage), wall is the whole scan; both per
recorded minute, medians of --repeat runs, and the ratio ours / reference (below 1: we are cheaper). The keyframe
counts must agree (exit 1 otherwise). As a check that the cheaper read reads as much, each side's hits (a frame
and a detector) are counted: ours from the findings, the reference's by running its TSV through the same
detectors (untimed). A decode row times the keyframes-only decode against decoding every frame. Prints numbers,
asserts nothing about speed.

    .venv/bin/python bench/ocr.py [--minutes 2] [--size 1920x1080] [--repeat 3] [--jobs N] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av
import numpy as np

from recorder.sealing import synthetic
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from trajrec import onscreen
from trajrec.reader import BundleReader

CACHE = Path(__file__).resolve().parent / ".cache"
PATTERNS = [re.compile(r"PROJ-\d{4}")]
TEXT = (
    "echo ready\nimport numpy as np\naws id AKIAZ3MHT5QW7XJ2KLPB\nx = np.linspace(0, 1, 100)\nprint(x.mean())\n"
    "pay 4111 1111 1111 1111\nls -la /data\nsee PROJ-4821 now\ngrep -n 'error' run.log | head\n"
)
BASE_ENV = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}  # tesseract's defaults
QUIET: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def ensure_bundle(minutes: float, width: int, height: int, log: Callable[[str], None]) -> Path:
    spec = SyntheticSpec(duration_s=minutes * 60, width=width, height=height, audio=False, text=TEXT, seed=7)
    digest = hashlib.sha256(repr(spec).encode() + Path(synthetic.__file__).read_bytes()).hexdigest()[:8]
    path = CACHE / f"ocr-{width}x{height}-{minutes:g}min-{digest}"
    if not (path / "manifest.json").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        log(f"generating a {minutes:g} min {width}x{height} session into {path} ...")
        t0 = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix=".gen-", dir=CACHE))
        try:
            bundle, _ = synthesize_bundle(scratch, spec, session_id=path.name)
            os.replace(bundle, path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log(f"generated in {time.perf_counter() - t0:.1f} s")
    return path


def cpu_s() -> float:
    """user+sys of this process and of every child it reaped."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def machine_s() -> tuple[float, float]:
    """(CPU-seconds every core has been busy since boot, every process; seconds the hypervisor took the CPUs
    for others: steal), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def timed(run: Callable[[], int | list[str]]) -> tuple[float, float, int, float, float]:
    """(wall s, CPU s, hits, CPU s of other processes meanwhile, steal s meanwhile) of one run; the reference's
    hits are counted after the clock stops."""
    (b0, s0), c0, t0 = machine_s(), cpu_s(), time.perf_counter()
    out = run()
    wall, cpu, (b1, s1) = time.perf_counter() - t0, cpu_s() - c0, machine_s()
    return wall, cpu, out if isinstance(out, int) else reference_hits(out), max(0.0, b1 - b0 - cpu), s1 - s0


def ours(bundle: Path) -> int:
    with BundleReader(bundle) as reader:
        return sum(len(s.seen) for s in onscreen.scan_screen(reader, PATTERNS))


def reference(bundle: Path, jobs: int, tuned: bool, keyframes: int) -> list[str]:
    """Every keyframe as PNG by ffmpeg, then the tesseract CLI on each; returns the TSVs."""
    env = {**BASE_ENV, "OMP_THREAD_LIMIT": "1"} if tuned else BASE_ENV
    with tempfile.TemporaryDirectory(prefix="ocr-ref-") as tmp:
        video = str(bundle / "screen" / "video.mp4")
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-skip_frame", "nokey", "-i", video, "-vsync", "0"]
        subprocess.run([*cmd, f"{tmp}/frame%05d.png"], check=True, env=env)
        images = sorted(Path(tmp).glob("frame*.png"))
        if len(images) != keyframes:
            raise SystemExit(f"bench/ocr.py: ffmpeg wrote {len(images)} keyframes, the bundle lists {keyframes}")

        def one(png: Path) -> None:
            subprocess.run(["tesseract", str(png), str(png.with_suffix("")), "tsv"], check=True, env=env, **QUIET)

        with ThreadPoolExecutor(jobs if tuned else 1) as pool:
            list(pool.map(one, images))
        return [png.with_suffix(".tsv").read_text() for png in images]


def reference_hits(tsvs: list[str]) -> int:
    """The reference's hits: each TSV's lines through the same detectors and token joining as ours."""
    total = 0
    for tsv in tsvs:
        rows = [line.split("\t") for line in tsv.splitlines()[1:]]
        lines: dict[tuple[str, str, str], onscreen.Line] = {}
        for r in rows:
            if len(r) == 12 and r[0] == "5" and r[11].strip():
                box = (int(r[6]), int(r[7]), int(r[8]), int(r[9]))
                lines.setdefault((r[2], r[3], r[4]), []).append((r[11].strip(), box))
        total += len(onscreen._deduped(onscreen._hits(list(lines.values()), PATTERNS, {})))
    return total


def decode_times(bundle: Path) -> tuple[float, float, int, int]:
    """(keyframes-only decode s, every-frame decode s, keyframes, frames)."""
    with BundleReader(bundle) as reader:
        table = reader.frames()
        keys = np.flatnonzero(np.asarray(table.column("keyframe").to_numpy(zero_copy_only=False), dtype=bool))
        pts = [int(p) for p in table.column("pts").to_numpy()]
        t0 = time.perf_counter()
        n_keys = sum(1 for _ in onscreen._frames(reader, [int(k) for k in keys], keys, pts))
        t_keys = time.perf_counter() - t0
    t0 = time.perf_counter()
    with av.open(str(bundle / "screen" / "video.mp4")) as container:
        n_all = sum(1 for frame in container.decode(video=0) if frame.to_ndarray(format="gray") is not None)
    return t_keys, time.perf_counter() - t0, n_keys, n_all


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--minutes", type=float, default=2.0, help="length of the session (2)")
    p.add_argument("--size", default="1920x1080", help="video size WxH (1920x1080)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each side; medians (3)")
    p.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="tuned reference's parallelism")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    for tool in ("ffmpeg", "tesseract"):
        if shutil.which(tool) is None:
            print(f"bench/ocr.py: `{tool}` not found (Debian: apt-get install ffmpeg tesseract-ocr)", file=sys.stderr)
            return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    bundle = ensure_bundle(args.minutes, width, height, log)
    with BundleReader(bundle) as reader:
        keyframes = int(np.sum(reader.frames().column("keyframe").to_numpy(zero_copy_only=False)))
        minutes = (reader.end_ns - reader.start_ns) / 60e9
    sides: dict[str, Callable[[], int | list[str]]] = {
        "ours: scan_screen": lambda: ours(bundle),
        "reference as it comes (ffmpeg + tesseract)": lambda: reference(bundle, 1, False, keyframes),
        f"reference tuned (OMP_THREAD_LIMIT=1, {args.jobs} at once)": lambda: reference(
            bundle, args.jobs, True, keyframes
        ),
    }
    onscreen.ocr_available()  # tesseract's model read once from disk before anything is timed
    runs: dict[str, list[tuple[float, float, int, float, float]]] = {name: [] for name in sides}
    for k in range(args.repeat):
        for name, run in sides.items():  # interleaved, so that a busy moment hits every side alike
            wall, cpu, hits, other, steal = timed(run)
            runs[name].append((wall, cpu, hits, other, steal))
            log(f"  run {k + 1}/{args.repeat} {name}: wall {wall:.1f} s, CPU {cpu:.1f} s, {hits} hits")
            log(f"    meanwhile: other processes {other:.1f} CPU-s, hypervisor steal {steal:.1f} s")
    decodes = [decode_times(bundle) for _ in range(args.repeat)]
    t_keys, t_all = (statistics.median(d[i] for d in decodes) for i in (0, 1))
    n_keys, n_all = decodes[0][2:]
    rows = []
    ours_wall, ours_cpu = (statistics.median(r[i] for r in runs["ours: scan_screen"]) for i in (0, 1))
    for name, rs in runs.items():
        wall, cpu = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
        rows.append(
            {
                "side": name,
                "wall_s": wall,
                "cpu_s": cpu,
                "wall_s_per_min": wall / minutes,
                "cpu_s_per_min": cpu / minutes,
                "hits": rs[-1][2],
                "ratio_wall": ours_wall / wall,
                "ratio_cpu": ours_cpu / cpu,
                "others_cpu_s": statistics.median(r[3] for r in rs),
                "steal_s": statistics.median(r[4] for r in rs),
                "runs": rs,
            }
        )
    res = {
        "bundle": str(bundle),
        "minutes": minutes,
        "size": [width, height],
        "keyframes": keyframes,
        "repeat": args.repeat,
        "rows": rows,
        "decode": {"keyframes_s": t_keys, "every_frame_s": t_all, "keyframes": n_keys, "frames": n_all},
    }
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"\n{minutes:.2f} min at {width}x{height}, {keyframes} keyframes read by every side, "
        f"medians of {args.repeat} runs, {os.cpu_count()} CPUs\n"
    )
    head = (
        f"{'side':<48} {'CPU s/min':>10} {'wall s/min':>11} {'hits':>6} {'ours/x CPU':>11} {'ours/x wall':>12} "
        f"{'others CPU s':>12} {'steal s':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ours_row = r["side"].startswith("ours")
        ratio_cpu, ratio_wall = ("-", "-") if ours_row else (f"{r['ratio_cpu']:.2f}x", f"{r['ratio_wall']:.2f}x")
        print(
            f"{r['side']:<48} {r['cpu_s_per_min']:>10.2f} {r['wall_s_per_min']:>11.2f} {r['hits']:>6} "
            f"{ratio_cpu:>11} {ratio_wall:>12} {r['others_cpu_s']:>12.1f} {r['steal_s']:>8.1f}"
        )
    print(
        f"\ndecode: keyframes only {t_keys:.2f} s ({n_keys} frames), every frame {t_all:.2f} s ({n_all} frames): "
        f"{t_all / t_keys:.1f}x (medians)"
    )
    print("hits: (frame, detector) pairs read; the reference's TSV goes through our detectors and token joining.")
    print("others, steal: CPU-s other processes used and seconds a hypervisor took the CPUs during a run (medians):")
    print("next to the side's own CPU, how quiet the machine was.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
