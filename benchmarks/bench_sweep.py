"""Wall time of a sweep on a Dask ``LocalCluster`` against the same tasks in one process.

The same spec runs twice into fresh directories: through :func:`lifsampling.sweep.run_sweep`
(``--workers`` worker processes, 1 thread each; the time includes starting the cluster and each
worker's first imports) and through :func:`lifsampling.sweep.run_serial` (every task one after
another in this process, imports already paid after the first task). Both compute the same
figures (the same seeds), which the script checks.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_sweep.py \\
        [--spec SPEC.json] [--workers 2] [--out results/bench_sweep.json]

Default spec: ``core-kl --quick`` over duration_ms in {5000, 20000} x chains in {4, 10} x seeds
{0, 1, 2} (12 tasks).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SPEC = {"claim": "core-kl", "grid": {"duration_ms": [5000.0, 20000.0],
                                             "chains": [4, 10]},
                "seeds": [0, 1, 2], "quick": True, "device": "cpu", "name": "bench"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", type=Path, help="sweep spec (JSON); default: see the docstring")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    args = ap.parse_args(argv)

    from lifsampling.io import read_json, write_json
    from lifsampling.sweep import parse_spec, read_record, run_serial, run_sweep

    spec = parse_spec(read_json(args.spec, "spec") if args.spec else DEFAULT_SPEC)
    tasks = spec.tasks()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        t0 = time.perf_counter()
        s = run_sweep(spec, Path(tmp) / "dask", workers=args.workers, progress=True)
        dask_s = time.perf_counter() - t0
        if s["tasks_done"] != len(tasks):
            print(f"dask sweep finished {s['tasks_done']} of {len(tasks)} tasks", file=sys.stderr)
            return 1
        t0 = time.perf_counter()
        run_serial(spec, Path(tmp) / "serial")
        serial_s = time.perf_counter() - t0
        serial_dir = next((Path(tmp) / "serial").iterdir())
        diffs = [abs(read_record(serial_dir, r["key"])["figure"] - r["figure"])
                 for r in s["tasks"]]
    task_s = [r["wall_s"] for r in s["tasks"]]
    result = {"spec": spec.to_json(), "tasks": len(tasks), "workers": args.workers,
              "dask_wall_s": round(dask_s, 2), "serial_wall_s": round(serial_s, 2),
              "speedup": round(serial_s / dask_s, 3),
              "dask_task_wall_s_sum": round(sum(task_s), 2),
              "points": [{k: pt[k] for k in ("params", "n", "mean", "ci95")}
                         for pt in s["points"]],
              "max_figure_difference": max(diffs),
              "same_figures": all(d == 0 or math.isclose(d, 0, abs_tol=1e-12) for d in diffs),
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
              "numba_num_threads": os.environ.get("NUMBA_NUM_THREADS"),
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "platform": platform.platform(), "python": platform.python_version()}
    print(json.dumps(result, indent=2))
    if args.out:
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
