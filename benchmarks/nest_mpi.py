"""An exported network on NEST under MPI: wall time for K = 1 and 2 processes, and a check that
the processes' spikes come back complete and identical.

The network is exported once (``lifsampling export-pynn``: a random Boltzmann machine, or an RBM
model file), then sampled with :func:`lifsampling.export.run_pynn` under
``mpirun -np K`` for every K of ``--procs``, with the same seed and the same number of NEST
virtual processes (``--virtual-processes``; K processes × V/K threads each). NEST's random
streams belong to the virtual processes, so every K must give the same spikes; the script checks
that, that every process returned the complete result (a digest per rank), that NEST really ran
K processes, and compares the mean rates within their Poisson error.

    python benchmarks/nest_mpi.py [--bm-units 400 | --model RBM.npz] [--chains 1] \\
        [--duration-ms 1000] [--procs 1 2] [--virtual-processes 2] \\
        [--out benchmarks/results/nest_mpi.json]

It needs, in the Python that runs it, ``mpirun`` on the PATH, mpi4py and a NEST built with MPI
(docs/ecosystem.md, "Under MPI"); the PyPI nest-simulator wheel has no MPI. Processes are not
bound to cores (``--bind-to none``): Open MPI otherwise binds each process to one core, which
would put both threads of the K = 1 run on the same core. Waiting processes and threads yield
their core (``--mca mpi_yield_when_idle 1``, ``OMP_WAIT_POLICY=PASSIVE``): NEST synchronises
them every min_delay (one 0.1 ms step here), and on shared cores busy-waiting for a descheduled
peer made both K = 1 with 2 threads and K = 2 6 to 18 times slower to simulate.
``--busy-wait`` keeps the MPI and OpenMP defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MPIRUN_FLAGS = ["--bind-to", "none", "--oversubscribe"]
YIELD_FLAGS = ["--mca", "mpi_yield_when_idle", "1"]


def _worker(a: argparse.Namespace) -> int:
    """One MPI process: sample the description, rank 0 writes the spikes and the timings."""
    import numpy as np

    t_start = time.perf_counter()
    import nest
    import pyNN.nest as sim  # the backend run_pynn imports; wrapped to time its phases
    from mpi4py import MPI

    from lifsampling.engine import Record
    from lifsampling.export import run_pynn
    from lifsampling.io import read_json, write_json, write_npz

    comm = MPI.COMM_WORLD
    t_imported = time.perf_counter()
    desc = read_json(a.worker, "description")
    t_read = time.perf_counter()
    phases: dict[str, float] = {}
    run = sim.run

    def timed_run(*args, **kwargs):
        t0 = time.perf_counter()
        out = run(*args, **kwargs)
        phases["run_s"] = time.perf_counter() - t0
        phases["run_started"] = t0
        return out

    sim.run = timed_run
    t0 = time.perf_counter()
    res = run_pynn(desc, "nest", duration_ms=a.duration_ms, chains=a.chains, seed=a.seed,
                   burn_in_ms=a.burn_in_ms, virtual_processes=a.virtual_processes,
                   record=Record(spikes=True))
    t1 = time.perf_counter()
    sim.run = run
    kernel = nest.GetKernelStatus(["num_processes", "local_num_threads",
                                   "total_num_virtual_procs"])
    local = len(nest.GetNodes({"model": "iaf_cond_exp"}, local_only=True))
    step, chain, neuron = (t.numpy() for t in res.spikes)
    counts = res.spike_counts.numpy()
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(x).tobytes()
                                     for x in (step, chain, neuron, counts))).hexdigest()
    info = {"rank": comm.rank, "local_neurons": local, "digest": digest,
            "import_s": t_imported - t_start, "read_description_s": t_read - t_imported,
            "run_pynn_s": t1 - t0, "build_s": phases["run_started"] - t0,
            "simulate_s": phases["run_s"],
            "gather_and_states_s": t1 - phases["run_started"] - phases["run_s"]}
    ranks = comm.gather(info, root=0)
    if comm.rank == 0:
        write_npz(a.result + ".npz", step=step, chain=chain, neuron=neuron, counts=counts)
        write_json(a.result + ".json", {
            "num_processes": kernel[0], "local_num_threads": kernel[1],
            "total_num_virtual_procs": kernel[2], "have_mpi": nest.build_info["have_mpi"],
            "nest_version": nest.__version__, "ranks": ranks})
    return 0


def _export(a: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-m", "lifsampling", "export-pynn", "--out", str(out), "--json"]
    cmd += [str(a.model)] if a.model else ["--bm-units", str(a.bm_units), "--seed", str(a.seed)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def _compare(ref: dict, other: dict, duration_s: float) -> dict:
    """Spikes of two runs: identical or not, and the mean rates' difference in Poisson errors."""
    import numpy as np

    same = all(np.array_equal(ref[k], other[k]) for k in ("step", "chain", "neuron", "counts"))
    c1, c2 = ref["counts"].astype(float), other["counts"].astype(float)
    r1, r2 = c1.mean() / duration_s, c2.mean() / duration_s
    se = math.sqrt(c1.sum() + c2.sum()) / (c1.size * duration_s)  # Poisson, both runs
    return {"identical_spikes": bool(same), "mean_rate_hz": [r1, r2],
            "rate_difference_in_se": (r2 - r1) / se if se else 0.0,
            "max_abs_count_difference": float(np.abs(c1 - c2).max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--bm-units", type=int, default=400,
                     help="random Boltzmann machine of this many units (export-pynn)")
    src.add_argument("--model", type=Path, help="RBM model file (npz) instead")
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--burn-in-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--virtual-processes", type=int, default=2)
    ap.add_argument("--busy-wait", action="store_true",
                    help="keep Open MPI's and OpenMP's busy-waiting defaults")
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # description path (under mpirun)
    ap.add_argument("--result", help=argparse.SUPPRESS)  # output prefix of rank 0
    a = ap.parse_args(argv)
    if a.worker:
        return _worker(a)

    import numpy as np

    from lifsampling.io import read_json, write_json

    mpirun = shutil.which("mpirun")
    if mpirun is None:
        print("mpirun is not on the PATH (Debian: apt-get install openmpi-bin)", file=sys.stderr)
        return 2
    if any(a.virtual_processes % k for k in a.procs):
        print(f"every K of --procs must divide --virtual-processes {a.virtual_processes}",
              file=sys.stderr)
        return 2
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    flags = [*MPIRUN_FLAGS]
    if not a.busy_wait:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        flags += YIELD_FLAGS
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory(prefix="nest-mpi-") as tmp:
        net = Path(tmp) / "net.json"
        t0 = time.perf_counter()
        exported = _export(a, net)
        export_s = time.perf_counter() - t0
        runs, spikes = [], {}
        for k in a.procs:
            prefix = str(Path(tmp) / f"np{k}")
            cmd = [mpirun, *root, *flags, "-np", str(k), sys.executable,
                   str(Path(__file__).resolve()), "--worker", str(net), "--result", prefix,
                   "--chains", str(a.chains), "--duration-ms", str(a.duration_ms),
                   "--burn-in-ms", str(a.burn_in_ms), "--seed", str(a.seed),
                   "--virtual-processes", str(a.virtual_processes)]
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if done.returncode:
                print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
                return 1
            info = read_json(prefix + ".json", "result")
            with np.load(prefix + ".npz") as z:
                spikes[k] = {name: z[name] for name in z.files}
            ranks = info.pop("ranks")
            counts = spikes[k]["counts"]
            row = {"K": k, **info, "mpirun_wall_s": wall,
                   "run_pynn_s": max(r["run_pynn_s"] for r in ranks),
                   "build_s": max(r["build_s"] for r in ranks),
                   "simulate_s": max(r["simulate_s"] for r in ranks),
                   "local_neurons": [r["local_neurons"] for r in ranks],
                   "every_rank_same_result": len({r["digest"] for r in ranks}) == 1,
                   "neurons_in_result": int(counts.size),
                   "simulated_ms": a.duration_ms,
                   "mean_rate_hz": float(counts.mean()) / (a.duration_ms / 1000.0),
                   "spikes": int(counts.sum()), "ranks": ranks,
                   "load_average_1min_before_after": [load0, os.getloadavg()[0]]}
            runs.append(row)
            print(json.dumps({key: row[key] for key in (
                "K", "num_processes", "local_num_threads", "mpirun_wall_s", "build_s",
                "simulate_s", "local_neurons", "every_rank_same_result", "mean_rate_hz")}),
                flush=True)
    ref = a.procs[0]
    checks = {f"K={ref} vs K={k}": _compare(spikes[ref], spikes[k], a.duration_ms / 1000.0)
              for k in a.procs[1:]}
    n_neurons = exported["neurons"] * a.chains
    ok = (all(r["num_processes"] == r["K"] and r["have_mpi"] for r in runs)
          and all(r["every_rank_same_result"] and r["neurons_in_result"] == n_neurons
                  and sum(r["local_neurons"]) == n_neurons for r in runs)
          and all(c["identical_spikes"] for c in checks.values()))
    result = {"network": {**{k: v for k, v in exported.items() if k != "out"},
                          "source": str(a.model) if a.model else f"random BM, seed {a.seed}",
                          "chains": a.chains, "neurons_total": n_neurons},
              "export_s": export_s, "duration_ms": a.duration_ms, "burn_in_ms": a.burn_in_ms,
              "seed": a.seed, "virtual_processes": a.virtual_processes,
              "mpirun": [mpirun, *root, *flags],
              "omp_wait_policy": env.get("OMP_WAIT_POLICY"), "runs": runs, "checks": checks,
              "all_checks_pass": ok, "cpu_count": os.cpu_count(),
              "platform": platform.platform(), "python": platform.python_version()}
    print(json.dumps({"checks": checks, "all_checks_pass": ok}, indent=2))
    if a.out:
        write_json(a.out, result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
