"""Benchmark `trajrec validate` on a Dask cluster against the local run, on the same batch.

The batch is bench/validate.py's cached synthetic bundles (on this machine's disk, which the local cluster's
workers share). Three runs of the CLI, one after the other: locally with --jobs 2; with --scheduler on a local
cluster (a `dask scheduler` and single-threaded `dask worker` processes on loopback, each pinned to a core of its
own, as if on a machine of its own: the decoders would otherwise spread one worker over every core) of 1 worker,
then 2. Each run
is the CLI's wall time (Python start-up and the cluster's connection included; the cluster's own start-up not).
Prints bundles/s and the ratios; asserts nothing about speed. Targets: 2 workers >= 1.7x one worker, and the
2-worker cluster within 1.2x of the local run's wall time.

    .venv/bin/python bench/cluster.py [--bundles 16] [--minutes 10] [--deep] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from validate import ensure_bundles, positive, trajrec_cmd, with_copies  # bench/ is on sys.path when this runs

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"bench/cluster.py: {' '.join(cmd[:4])} ... exited {r.returncode}: {r.stderr[-600:]}")
    return wall


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--bundles", type=positive(int), default=16, help="bundles in the batch (16)")
    p.add_argument("--unique", type=positive(int), default=4, help="of which generated (4)")
    p.add_argument("--minutes", type=positive(float), default=10.0, help="length of each bundle (10)")
    p.add_argument("--deep", action="store_true", help="validate --deep (decode every frame and sample)")
    p.add_argument("--repeat", type=positive(int), default=3, help="timed runs of each; medians (3)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = p.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.helpers.dask_cluster import dask_cluster

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    unique = ensure_bundles(min(args.unique, args.bundles), args.minutes, 1920, 1080, 2, log)
    bundles = [str(b) for b in with_copies(unique, args.bundles, log)]
    base = [*trajrec_cmd(), "validate", "--json", "--progress", "never", *(["--deep"] if args.deep else [])]
    walls: dict[str, list[float]] = {"local --jobs 2": [], "cluster, 1 worker": [], "cluster, 2 workers": []}
    timed([*base, *bundles])  # warm-up: the page cache
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        for n in (1, 2):
            name = f"cluster, {n} worker{'s' if n > 1 else ''}"
            pins = {f"w{i}": i % (os.cpu_count() or 1) for i in range(n)}  # a core each, as on machines of their own
            with dask_cluster(Path(tmp) / f"c{n}", {w: {} for w in pins}, cpus=pins) as c:
                for r in range(args.repeat):
                    if n == 1:
                        walls["local --jobs 2"].append(timed([*base, "--jobs", "2", *bundles]))
                    walls[name].append(timed([*base, "--scheduler", c.address, *bundles]))
                    log(f"  {name}, run {r + 1}: {walls[name][-1]:.1f} s")
    med = {k: statistics.median(v) for k, v in walls.items()}
    res = {
        "config": {"bundles": len(bundles), "minutes": args.minutes, "deep": args.deep, "repeat": args.repeat},
        "wall_s": {k: round(v, 2) for k, v in med.items()},
        "bundles_per_s": {k: round(len(bundles) / v, 3) for k, v in med.items()},
        "ratios": {
            "two_workers_speedup": round(med["cluster, 1 worker"] / med["cluster, 2 workers"], 2),
            "cluster_vs_local_wall": round(med["cluster, 2 workers"] / med["local --jobs 2"], 2),
        },
    }
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{len(bundles)} bundles x {args.minutes:g} min, validate{' --deep' if args.deep else ''}, medians of "
          f"{args.repeat}")  # fmt: skip
    for k in walls:
        print(f"{k:<22}{res['wall_s'][k]:>9.2f} s{res['bundles_per_s'][k]:>9.3f} bundles/s")
    r_ = res["ratios"]
    print(f"2 workers / 1 worker: {r_['two_workers_speedup']:.2f}x (target >= 1.7x); "
          f"cluster / local wall: {r_['cluster_vs_local_wall']:.2f}x (target <= 1.2x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
