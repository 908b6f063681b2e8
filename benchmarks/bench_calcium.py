"""Calcium (BiCaLL) MNIST training on the compiled CPU kernel against the torch path.

The same experiment (``experiments.calcium_mnist_training.run_mnist``: 784 Poisson inputs,
teacher and anti-teacher drive, shared BiCaLL input projection, 16 images in parallel) runs on
the same subset for each backend, one after the other, each in a fresh subprocess with 1 thread
(``OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1``, torch single-threaded). Reported per run: test
accuracy, wall and CPU time of training and testing, per image, and the kernel/torch ratios
of the same seed (the machine's load changes between runs; the ratios of one run are the
comparison). The two backends draw different random numbers for a seed, so their accuracies
differ by the seed-to-seed spread.

    LIFSAMPLING_DATA=/path/to/mnist python benchmarks/bench_calcium.py --n-train 5000 \\
        --n-test 1000 --seeds 0 --out benchmarks/results/calcium_cpu.json

One full epoch of a configuration on the kernel alone, with its peak memory:

    LIFSAMPLING_DATA=/path/to/mnist python benchmarks/bench_calcium.py --n-train 60000 \\
        --n-test 10000 --backends kernel --config '{"pool": 40}' \\
        --out benchmarks/results/calcium_epoch.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

_CHILD = """
import json, resource, sys, tempfile
from lifsampling.experiments.calcium_mnist import MnistConfig
from lifsampling.experiments.calcium_mnist_training import run_mnist
a = json.loads(sys.argv[1])
cfg = MnistConfig(n_train=a["n_train"], n_test=a["n_test"], seed=a["seed"], device="cpu",
                  backend=a["backend"], **a["config"])
with tempfile.TemporaryDirectory() as d:
    r = run_mnist(cfg, a["data"], progress=False, checkpoint=d + "/c.npz")
r["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({k: r[k] for k in ("test_accuracy", "train_time_s", "test_time_s",
                                    "train_cpu_s", "test_cpu_s", "fraction_weights_up",
                                    "peak_rss_mib")}))
"""


def run_one(backend: str, seed: int, n_train: int, n_test: int, data: str,
            config: dict | None = None) -> dict:
    """One training + test run in a fresh single-threaded subprocess; ``config`` overrides
    MnistConfig fields. Reports the process's peak resident memory (MiB) as well."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    arg = json.dumps({"backend": backend, "seed": seed, "n_train": n_train, "n_test": n_test,
                      "data": data, "config": config or {}})
    load_before = os.getloadavg()[0]
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", _CHILD, arg], env=env, check=True,
                         capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(backend=backend, seed=seed, n_train=n_train, n_test=n_test, config=config or {},
               started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
               load_avg_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
               train_wall_ms_per_image=round(1e3 * res["train_time_s"] / n_train, 2),
               train_cpu_ms_per_image=round(1e3 * res["train_cpu_s"] / n_train, 2),
               test_wall_ms_per_image=round(1e3 * res["test_time_s"] / n_test, 2),
               test_cpu_ms_per_image=round(1e3 * res["test_cpu_s"] / n_test, 2))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--backends", default="kernel,torch")
    ap.add_argument("--data", default=os.environ.get("LIFSAMPLING_DATA"))
    ap.add_argument("--config", default="{}", help="JSON object overriding MnistConfig fields")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/calcium_cpu.json"))
    a = ap.parse_args()
    config = json.loads(a.config)
    if not a.data:
        sys.exit("error: pass --data or set LIFSAMPLING_DATA to a folder holding MNIST")
    runs = []
    for seed in (int(s) for s in a.seeds.split(",")):
        for backend in a.backends.split(","):
            r = run_one(backend, seed, a.n_train, a.n_test, a.data, config)
            runs.append(r)
            print(json.dumps(r), flush=True)
    ratios = []
    for seed in {r["seed"] for r in runs}:
        by = {r["backend"]: r for r in runs if r["seed"] == seed}
        if "kernel" in by and "torch" in by:
            k, t = by["kernel"], by["torch"]
            ratios.append({"seed": seed, **{
                f"kernel/torch {key}": round(k[key] / t[key], 3)
                for key in ("train_time_s", "train_cpu_s", "test_time_s", "test_cpu_s")}})
    from lifsampling.io import write_json

    write_json(a.out, {"runs": runs, "ratios": ratios, "threads": 1, "cpus": os.cpu_count()})
    print(json.dumps(ratios, indent=1))


if __name__ == "__main__":
    main()
