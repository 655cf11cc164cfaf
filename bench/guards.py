"""What the privacy guards cost: the same scripted desktop as bench/capture.py, recorded by `trajrec record` twice,
one run after the other on a fresh display each time: with its guards (the deny-list asked at every grab and the
window stack read every 100 ms for masking, the accessibility bridge, the input guard holding events 400 ms)
and without them (the same recorder with those switched off). Prints CPU per recorded minute of each, the ratio
(target: at most 1.10), frames, MB/h and peak RSS; asserts nothing about speed.

The desktop has no accessibility bus (xterm exposes no tree), so the bridge's share is its start-up only; on a
desktop whose apps expose trees it adds a few D-Bus calls per focus change and per click.

    .venv/bin/python bench/guards.py [--seconds 60] [--fps 30] [--repeat 1] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _capture() -> Any:
    spec = importlib.util.spec_from_file_location("bench_capture", HERE / "capture.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_capture"] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cap = _capture()
    run_args = argparse.Namespace(
        seconds=args.seconds, fps=args.fps, plain=False, ffmpeg_pix_fmt=None, no_ocr=True, keep=False, json=False,
        repeat=1, variants=["sequential"],
    )  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="bench-guards-") as tmp:
        for r in range(args.repeat):
            for mode in ("on", "off"):
                os.environ["TRAJREC_BENCH_GUARDS"] = mode
                result = cap.one_run("sequential", ("trajrec",), run_args, Path(tmp) / f"{r}-{mode}", print)
                (run,) = result.tools
                results[mode].append({**run.derived(), "frames": run.frames, "maxrss_mb": run.maxrss_mb})
    os.environ.pop("TRAJREC_BENCH_GUARDS", None)

    def median(mode: str, key: str) -> float:
        return statistics.median(float(x[key] or 0.0) for x in results[mode])

    on, off = median("on", "rec_cpu_s_per_min"), median("off", "rec_cpu_s_per_min")
    summary: dict[str, Any] = {
        "rec_cpu_s_per_min": {"on": on, "off": off, "ratio": on / off if off else None},
        "cpu_s_per_min": {"on": median("on", "cpu_s_per_min"), "off": median("off", "cpu_s_per_min")},
        "frames": {"on": median("on", "frames"), "off": median("off", "frames")},
        "total_mb_per_hour": {"on": median("on", "total_mb_per_hour"), "off": median("off", "total_mb_per_hour")},
        "maxrss_mb": {"on": median("on", "maxrss_mb"), "off": median("off", "maxrss_mb")},
        "runs": results,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"\nguards cost over {args.repeat} run(s) of {args.seconds:g} s at {args.fps:g} fps (medians):")
        for key in ("rec_cpu_s_per_min", "cpu_s_per_min", "frames", "total_mb_per_hour", "maxrss_mb"):
            row = summary[key]
            print(f"  {key:20s} on {row['on']:9.2f}   off {row['off']:9.2f}")
        ratio = summary["rec_cpu_s_per_min"]["ratio"]
        print(f"  recording CPU, guards on / off: {ratio:.3f}x (target <= 1.10)" if ratio else "  no ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
