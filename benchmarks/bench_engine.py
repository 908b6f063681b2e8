"""Engine throughput against Brian2 on the same 1294-neuron network, in the same run.

Throughput = chains x biological seconds simulated per wall-clock second. Each configuration
runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own.

    python benchmarks/bench_engine.py                     # CPU: B = 1, 16, 256 and Brian2
                                                          # (torch eager/compiled, kernel)
    python benchmarks/bench_engine.py --device cuda --chains 1 256 1024 4096 --no-brian2
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

N_VISIBLE, N_HIDDEN = 794, 500
HERE = Path(__file__).resolve().parent


def rbm_network():
    """RBM-shaped random network mapped with the shipped sbs calibration: W ~ U(-0.5, 0.5)
    between layers, biases ~ U(-1, 1); mean rate ~40 Hz."""
    from lifsampling.calibration import load_calibration
    from lifsampling.mapping import bm_to_network

    g = torch.Generator().manual_seed(0)
    n = N_VISIBLE + N_HIDDEN
    W = torch.zeros(n, n, dtype=torch.float64)
    Wvh = torch.rand(N_VISIBLE, N_HIDDEN, generator=g, dtype=torch.float64) - 0.5
    W[:N_VISIBLE, N_VISIBLE:] = Wvh
    W[N_VISIBLE:, :N_VISIBLE] = Wvh.T
    b = 2 * torch.rand(n, generator=g, dtype=torch.float64) - 1
    return bm_to_network(W, b, load_calibration("sbs-tutorial"))


def run_ours(chains: int, duration_ms: float, device: str, backend: str = "torch") -> dict:
    import resource

    from lifsampling.engine import simulate

    net = rbm_network()
    # compile (torch.compile) or load the cached numba kernel outside the timed run
    simulate(net, 1.0, chains=chains, device=device, backend=backend)
    t0 = time.perf_counter()
    res = simulate(net, duration_ms, chains=chains, device=device, seed=1, backend=backend)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    name = {"kernel": "lifsampling kernel", "torch": "lifsampling torch",
            "torch-compiled": "lifsampling torch (compiled)"}[backend]
    out = {"simulator": name, "chains": chains,
           "duration_ms": duration_ms, "wall_s": wall,
           "chain_bio_s_per_wall_s": chains * duration_ms * 1e-3 / wall,
           "mean_rate_hz": float(res.rates_hz.mean()),
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda"):
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _brian2_network(standalone_threads: int = 0):
    """The benchmark network in Brian2 (cython runtime, or C++ standalone with OpenMP)."""
    import brian2 as b2
    import numpy as np

    from lifsampling.reference.brian2_model import neuron_group

    net = rbm_network()
    noise, n = net.noise, net.n
    if standalone_threads:
        b2.set_device("cpp_standalone", build_on_run=False)
        # 1 thread: plain C++ (openmp_threads = 0 turns OpenMP off)
        b2.prefs.devices.cpp_standalone.openmp_threads = (
            standalone_threads if standalone_threads > 1 else 0)
    g = neuron_group(n, net.neuron, net.e_leak_mV.numpy(), target="cython")
    w = net.weights_uS.numpy()
    pre, post = np.nonzero(w > 0)
    se = b2.Synapses(g, g, "w : siemens", on_pre="ge += w", delay=0.1 * b2.ms)
    se.connect(i=pre, j=post)
    se.w = w[pre, post] * b2.uS
    pre, post = np.nonzero(w < 0)
    si = b2.Synapses(g, g, "w : siemens", on_pre="gi += w", delay=0.1 * b2.ms)
    si.connect(i=pre, j=post)
    si.w = -w[pre, post] * b2.uS
    pe = b2.PoissonInput(g, "ge", 1, noise.rate_exc_hz * b2.Hz, weight=noise.w_exc_uS * b2.uS)
    pi = b2.PoissonInput(g, "gi", 1, noise.rate_inh_hz * b2.Hz, weight=noise.w_inh_uS * b2.uS)
    mon = b2.SpikeMonitor(g)
    return b2, b2.Network(g, se, si, pe, pi, mon), mon, n


def run_brian2(duration_ms: float) -> dict:
    """Brian2's runtime mode (cython target, single-threaded)."""
    import resource

    b2, bnet, mon, n = _brian2_network()
    bnet.run(1 * b2.ms)  # code generation and compilation, not timed
    t0 = time.perf_counter()
    bnet.run(duration_ms * b2.ms)
    wall = time.perf_counter() - t0
    return {"simulator": f"brian2 {b2.__version__} (cython, 1 thread)", "chains": 1,
            "duration_ms": duration_ms, "wall_s": wall,
            "chain_bio_s_per_wall_s": duration_ms * 1e-3 / wall,
            "mean_rate_hz": len(mon.i) / n / ((duration_ms + 1) * 1e-3),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_brian2_standalone(duration_ms: float, threads: int) -> dict:
    """Brian2's fastest CPU mode: generated C++ with OpenMP. Timed: the run loop only, as the
    binary itself reports it (``device._last_run_time``), not code generation or compilation."""
    import resource
    import tempfile

    b2, bnet, mon, n = _brian2_network(standalone_threads=threads)
    bnet.run(duration_ms * b2.ms)
    with tempfile.TemporaryDirectory() as tmp:
        b2.device.build(directory=tmp, compile=True, run=False)
        t0 = time.perf_counter()
        b2.device.run(directory=tmp, with_output=False, run_args=[])
        process_wall = time.perf_counter() - t0
        wall = float(getattr(b2.device, "_last_run_time", process_wall))
        rate = len(mon.i) / n / (duration_ms * 1e-3)
    mode = f"{threads} OpenMP threads" if threads > 1 else "1 thread"
    return {"simulator": f"brian2 {b2.__version__} (C++ standalone, {mode})",
            "chains": 1, "duration_ms": duration_ms, "wall_s": wall,
            "process_wall_s": process_wall,
            "chain_bio_s_per_wall_s": duration_ms * 1e-3 / wall, "mean_rate_hz": rate,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _subprocess(call: str) -> dict:
    code = f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_engine as b; " \
           f"print('RESULT ' + json.dumps({call}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--chains", type=int, nargs="+", default=[1, 16, 256])
    ap.add_argument("--bio-s", type=float, default=20.0,
                    help="chain-biological seconds per configuration (duration = this / chains,"
                         " at least 50 ms)")
    ap.add_argument("--brian2-ms", type=float, default=500.0)
    ap.add_argument("--no-brian2", action="store_true")
    ap.add_argument("--brian2-standalone-threads", type=int, nargs="*", default=[1, 2],
                    help="also time Brian2's C++ standalone mode with these thread counts "
                         "(none: skip)")
    ap.add_argument("--compile", choices=["yes", "no", "both"], default="both",
                    help="torch-path rows: eager, torch.compile-d, or both")
    ap.add_argument("--no-kernel", action="store_true",
                    help="skip the compiled CPU kernel rows (CPU only)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "engine_cpu.json")
    a = ap.parse_args()
    rows = []
    if not a.no_brian2:
        rows.append(_subprocess(f"b.run_brian2({a.brian2_ms})"))
        print(rows[-1], flush=True)
        for threads in a.brian2_standalone_threads:
            rows.append(_subprocess(f"b.run_brian2_standalone({4 * a.brian2_ms}, {threads})"))
            print(rows[-1], flush=True)
    modes = {"yes": ["torch-compiled"], "no": ["torch"],
             "both": ["torch", "torch-compiled"]}[a.compile]
    kernel = a.device == "cpu" and not a.no_kernel
    for b in a.chains:
        dur = max(50.0, a.bio_s * 1e3 / b)
        for be in modes:
            if be == "torch-compiled" and b == 1:
                continue
            rows.append(_subprocess(f"b.run_ours({b}, {dur}, {a.device!r}, {be!r})"))
            print(rows[-1], flush=True)
        if kernel:
            rows.append(_subprocess(f"b.run_ours({b}, {4 * dur}, 'cpu', 'kernel')"))
            print(rows[-1], flush=True)
    # ratios against Brian2's default runtime mode and against its fastest mode in this run
    brian = [r for r in rows if r["simulator"].startswith("brian2")]
    if brian:
        ref = brian[0]["chain_bio_s_per_wall_s"]
        best = max(r["chain_bio_s_per_wall_s"] for r in brian)
        for r in rows:
            r["ratio_vs_brian2"] = r["chain_bio_s_per_wall_s"] / ref
            r["ratio_vs_fastest_brian2"] = r["chain_bio_s_per_wall_s"] / best
    result = {"machine": platform.processor() or platform.machine(),
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "numba": __import__("numba").__version__,
              "numba_threads": __import__("numba").get_num_threads(),
              "cpu_count": __import__("os").cpu_count(), "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'simulator':48s} {'B':>5s} {'chain-bio-s/s':>14s} {'x Brian2':>9s} "
          f"{'x fastest':>9s} {'RSS MiB':>8s}")
    for r in rows:
        print(f"{r['simulator']:48s} {r['chains']:5d} {r['chain_bio_s_per_wall_s']:14.3f} "
              f"{r.get('ratio_vs_brian2', float('nan')):9.2f} "
              f"{r.get('ratio_vs_fastest_brian2', float('nan')):9.2f} {r['peak_rss_mib']:8.0f}")


if __name__ == "__main__":
    main()
