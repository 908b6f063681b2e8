"""Batched throughput against Brian2 and NEST simulating the same B chains, at equal threads.

``bench_engine.py`` compares B independent chains of ours with *one* Brian2 network. Here every
reference simulates B disconnected copies of the 1294-neuron RBM-shaped network as one network
(B x 1294 neurons, block-diagonal recurrent synapses, independent Poisson background per neuron)
with the same thread count as ours. Throughput = chains x biological seconds per wall second
(chain-bio-s/s). Each configuration builds once in a fresh subprocess (build time reported
apart), then times ``--repeats`` runs; peak resident memory is the subprocess's own (and its
children's: Brian2's compiler and standalone binary).

Model, identical in every simulator: PyNN ``IF_cond_exp`` neurons with the shipped sbs
parameters and per-neuron leak potentials, dt 0.1 ms, 3 kHz excitatory and inhibitory Poisson
background (0.001 uS) drawn independently per neuron, recurrent *renewing* synapses (Tsodyks-
Markram U = 1, tau_rec = tau_syn = 10 ms, no facilitation) with a one-step (0.1 ms) delay:

- Brian2: ``Synapses`` with an event-driven resource ``x`` (``ge_post += w*x; x = 0``) and
  ``PoissonInput`` per neuron; C++ standalone (OpenMP threads = T) and runtime (cython, 1 thread).
- NEST: ``iaf_cond_exp``, ``tsodyks2_synapse`` (U = u = 1, tau_rec = 10 ms, tau_fac = 0), one
  ``poisson_generator`` per sign connected to all neurons (NEST draws an independent train for
  every target).

A memory guard skips a reference configuration whose estimated peak RSS exceeds ``--rss-limit-gib``
(a linear fit in B of the RSS already measured in this run, a prior per-synapse cost before that),
and a watchdog kills any configuration whose process tree goes above ``--rss-kill-gib``.

    pip install -e ".[test,bench]"     # Brian2 and NEST 3 (nest-simulator wheel)
    python benchmarks/bench_batched.py                        # B = 1, 16, 64, 256; T = 1, 2
    python benchmarks/bench_batched.py --chains 1 16 --threads 2 --sims kernel nest
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIMS = ("kernel", "torch", "brian2-standalone", "brian2-cython", "nest")
REFERENCES = ("brian2-standalone", "brian2-cython", "nest")
# guesses used before anything is measured: chain-bio-s/s (total) and bytes per synapse
PRIOR_THROUGHPUT = {"kernel": 5.0, "torch": 0.3, "brian2-standalone": 0.5,
                    "brian2-cython": 0.3, "nest": 0.05}
PRIOR_BYTES_PER_SYNAPSE = {"kernel": 0.0, "torch": 0.0, "brian2-standalone": 80.0,
                           "brian2-cython": 80.0, "nest": 120.0}
BASE_RSS_MIB = 600.0
WARMUP_MS = 10.0  # untimed, part of the build: Brian2 runtime and NEST (ours: 1 ms)
MIN_MS = {"nest": 20.0}
# Waiting OpenMP threads sleep instead of spinning. On a machine whose cores other jobs share,
# spinning makes every barrier wait for a descheduled sibling: Brian2's standalone binary with 2
# threads ran 60x slower (0.005 instead of 0.3 chain-bio-s/s at B = 1) with the default policy.
OMP_WAIT_POLICY = "PASSIVE"  # NEST is slow enough that 50 ms x 64 chains takes minutes


# --------------------------------------------------------------------------------------------
# the network, as B copies
# --------------------------------------------------------------------------------------------
def _network():
    sys.path.insert(0, str(HERE))
    from bench_engine import rbm_network

    net = rbm_network()
    if net.synapse.kind != "renewing":
        raise ValueError(f"the references model renewing synapses, not {net.synapse.kind!r}")
    return net


def _copies(net, chains: int):
    """Block-diagonal recurrent synapses of ``chains`` copies: yields (sign, pre, post, w_uS),
    one sign at a time (int32 indices: the temporaries of B = 256 are GBs)."""
    import numpy as np

    w = net.weights_uS.numpy()
    n = net.n
    off = (np.arange(chains, dtype=np.int32) * np.int32(n))[:, None]
    for sign in (1, -1):
        pre, post = (x.astype(np.int32) for x in np.nonzero(sign * w > 0))
        vals = sign * w[pre, post]
        yield sign, (pre[None] + off).ravel(), (post[None] + off).ravel(), np.tile(vals, chains)


def _rss() -> dict:
    import resource

    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_rss_children_mib":
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _row(sim: str, label: str, chains: int, threads: int, duration_ms: float, build_s: float,
         walls: list[float], rates: list[float], n_synapses: int, **extra) -> dict:
    best = min(walls)
    return {"sim": sim, "simulator": label, "chains": chains, "threads": threads,
            "duration_ms": duration_ms, "build_s": build_s, "run_wall_s": walls,
            "chain_bio_s_per_wall_s_runs": [chains * duration_ms * 1e-3 / w for w in walls],
            "chain_bio_s_per_wall_s": chains * duration_ms * 1e-3 / best,
            "mean_rate_hz_runs": rates, "mean_rate_hz": sum(rates) / len(rates),
            "synapses": n_synapses, **extra, **_rss()}


# --------------------------------------------------------------------------------------------
# ours
# --------------------------------------------------------------------------------------------
def run_ours(sim: str, chains: int, threads: int, duration_ms: float, repeats: int) -> dict:
    import numba
    import torch

    from lifsampling.engine import simulate

    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    backend = "kernel" if sim == "kernel" else "torch"
    t0 = time.perf_counter()
    net = _network()
    simulate(net, 1.0, chains=chains, device="cpu", backend=backend)  # load/JIT the kernel
    build = time.perf_counter() - t0
    walls, rates = [], []
    for rep in range(repeats):
        t0 = time.perf_counter()
        res = simulate(net, duration_ms, chains=chains, device="cpu", seed=rep + 1,
                       backend=backend)
        walls.append(time.perf_counter() - t0)
        rates.append(float(res.rates_hz.mean()))
    label = "lifsampling kernel (numba)" if sim == "kernel" else "lifsampling torch (eager)"
    n_syn = int((net.weights_uS != 0).sum()) * chains
    return _row(sim, label, chains, threads, duration_ms, build, walls, rates, n_syn,
                numba=numba.__version__, torch=torch.__version__)


# --------------------------------------------------------------------------------------------
# Brian2
# --------------------------------------------------------------------------------------------
def _brian2_network(chains: int, standalone_threads: int | None):
    import brian2 as b2
    import numpy as np

    from lifsampling.reference.brian2_model import neuron_group

    net = _network()
    noise, n, dt = net.noise, net.n, 0.1
    if standalone_threads is not None:
        b2.set_device("cpp_standalone", build_on_run=False)
        # 1 thread: plain C++ (openmp_threads = 0 turns OpenMP off)
        b2.prefs.devices.cpp_standalone.openmp_threads = (
            standalone_threads if standalone_threads > 1 else 0)
    e_leak = np.tile(net.e_leak_mV.numpy(), chains)
    g = neuron_group(chains * n, net.neuron, e_leak, dt_ms=dt, target="cython")
    model = "w : siemens (constant)\ndx/dt = (1 - x) / tau_rec : 1 (event-driven)"
    objs = [g]
    n_syn = 0
    for sign, pre, post, vals in _copies(net, chains):
        var = "ge" if sign > 0 else "gi"
        # U = 1: the spike transmits w x (x recovered since the last spike), then x = 0
        s = b2.Synapses(g, g, model, on_pre=f"{var}_post += w * x\nx = 0", delay=dt * b2.ms,
                        namespace={"tau_rec": net.neuron.tau_syn_exc_ms * b2.ms})
        s.connect(i=pre, j=post)
        s.w = vals * b2.uS
        s.x = 1.0
        n_syn += len(pre)
        objs.append(s)
        del pre, post, vals
    objs.append(b2.PoissonInput(g, "ge", 1, noise.rate_exc_hz * b2.Hz,
                                weight=noise.w_exc_uS * b2.uS))
    objs.append(b2.PoissonInput(g, "gi", 1, noise.rate_inh_hz * b2.Hz,
                                weight=noise.w_inh_uS * b2.uS))
    mon = b2.SpikeMonitor(g, record=False)  # spike counts only
    objs.append(mon)
    return b2, b2.Network(*objs), mon, chains * n, n_syn


def run_brian2_cython(chains: int, duration_ms: float, repeats: int) -> dict:
    """Brian2's runtime mode (cython target; single-threaded)."""
    t0 = time.perf_counter()
    b2, bnet, mon, n, n_syn = _brian2_network(chains, None)
    bnet.run(WARMUP_MS * b2.ms)  # code generation and compilation (cached by Brian2)
    build = time.perf_counter() - t0
    walls, rates = [], []
    for _ in range(repeats):
        before = int(mon.num_spikes)
        t0 = time.perf_counter()
        bnet.run(duration_ms * b2.ms)
        walls.append(time.perf_counter() - t0)
        rates.append((int(mon.num_spikes) - before) / n / (duration_ms * 1e-3))
    return _row("brian2-cython", f"brian2 {b2.__version__} (cython)", chains, 1, duration_ms,
                build, walls, rates, n_syn)


def run_brian2_standalone(chains: int, threads: int, duration_ms: float, repeats: int) -> dict:
    """Brian2's C++ standalone mode (OpenMP with ``threads`` > 1). Build = network construction,
    code generation and compilation; run = the simulation loop as the binary reports it
    (``device._last_run_time``; ``process_wall_s`` adds start-up and loading the arrays)."""
    import shutil
    import tempfile

    t0 = time.perf_counter()
    b2, bnet, mon, n, n_syn = _brian2_network(chains, threads)
    bnet.run(duration_ms * b2.ms)
    walls, process_walls, rates = [], [], []
    # one project directory per thread count: Brian2 rewrites only the files that changed, so a
    # later B recompiles little (its build_s is then mostly network construction)
    tmp = Path(tempfile.gettempdir()) / f"bench_batched_b2_{os.getuid()}_T{threads}"
    try:
        b2.device.build(directory=str(tmp), compile=True, run=False)
        b2.device.static_arrays.clear()  # written to disk; the binary reads them from there
        build = time.perf_counter() - t0
        for _ in range(repeats):
            t0 = time.perf_counter()
            b2.device.run(directory=str(tmp), with_output=False, run_args=[])
            process_walls.append(time.perf_counter() - t0)
            walls.append(float(getattr(b2.device, "_last_run_time", process_walls[-1])))
            rates.append(int(mon.num_spikes) / n / (duration_ms * 1e-3))
    finally:
        for sub in ("static_arrays", "results"):  # the large per-B arrays; keep the objects
            shutil.rmtree(tmp / sub, ignore_errors=True)
    mode = f"{threads} OpenMP threads" if threads > 1 else "no OpenMP"
    return _row("brian2-standalone", f"brian2 {b2.__version__} (C++ standalone, {mode})",
                chains, threads, duration_ms, build, walls, rates, n_syn,
                process_wall_s=process_walls)


# --------------------------------------------------------------------------------------------
# NEST
# --------------------------------------------------------------------------------------------
def run_nest(chains: int, threads: int, duration_ms: float, repeats: int) -> dict:
    """NEST 3: build = creating and connecting the nodes and NEST's preparation (the first,
    1 ms ``Simulate``); run = ``Simulate(duration_ms)``."""
    import numpy as np

    t0 = time.perf_counter()
    import nest

    net = _network()
    nrn, noise, n = net.neuron, net.noise, net.n
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"local_num_threads": threads, "resolution": 0.1, "rng_seed": 1})
    e_leak = np.tile(net.e_leak_mV.numpy().astype(float), chains)
    nodes = nest.Create("iaf_cond_exp", chains * n, params={
        "C_m": nrn.cm_nF * 1e3, "g_L": nrn.g_leak_uS * 1e3, "V_th": nrn.v_thresh_mV,
        "V_reset": nrn.v_reset_mV, "t_ref": nrn.tau_ref_ms, "tau_syn_ex": nrn.tau_syn_exc_ms,
        "tau_syn_in": nrn.tau_syn_inh_ms, "E_ex": nrn.e_rev_exc_mV, "E_in": nrn.e_rev_inh_mV,
        "I_e": nrn.i_offset_nA * 1e3})
    nodes.set(E_L=e_leak.tolist(), V_m=e_leak.tolist())
    for rate, w in ((noise.rate_exc_hz, noise.w_exc_uS), (noise.rate_inh_hz, -noise.w_inh_uS)):
        pg = nest.Create("poisson_generator", params={"rate": float(rate)})
        nest.Connect(pg, nodes, "all_to_all", {"weight": w * 1e3, "delay": 0.1})
    nest.CopyModel("tsodyks2_synapse", "renewing_synapse",
                   {"U": 1.0, "u": 1.0, "x": 1.0, "tau_rec": nrn.tau_syn_exc_ms, "tau_fac": 0.0})
    first = nodes[0].global_id
    n_syn = 0
    w_all = net.weights_uS.numpy().astype(float)
    pre0, post0 = np.nonzero(w_all != 0)
    w0 = w_all[pre0, post0] * 1e3  # nS; the sign selects the excitatory/inhibitory receptor
    for c in range(chains):  # one chain at a time bounds the temporary arrays
        off = first + c * n
        nest.Connect(pre0 + off, post0 + off, "one_to_one",
                     {"synapse_model": "renewing_synapse", "weight": w0,
                      "delay": np.full(len(w0), 0.1)})
        n_syn += len(w0)
    rec = nest.Create("spike_recorder")
    nest.Connect(nodes, rec)
    nest.Simulate(WARMUP_MS)  # NEST's preparation (connection infrastructure) happens here
    build = time.perf_counter() - t0
    walls, rates = [], []
    for _ in range(repeats):
        before = int(rec.n_events)
        t0 = time.perf_counter()
        nest.Simulate(duration_ms)
        walls.append(time.perf_counter() - t0)
        rates.append((int(rec.n_events) - before) / (chains * n) / (duration_ms * 1e-3))
    return _row("nest", f"NEST {nest.__version__} (iaf_cond_exp, tsodyks2_synapse)", chains,
                threads, duration_ms, build, walls, rates, n_syn,
                num_connections=int(nest.GetKernelStatus("num_connections")))


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------
def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(x) for x in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def _subprocess(call: str, threads: int, kill_bytes: int, timeout_s: float) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_batched as b; "
            f"print('RESULT ' + json.dumps({call}))")
    # (MKL_NUM_THREADS=2 as well made NEST 3.10 with 2 threads crash with a segfault)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY=OMP_WAIT_POLICY)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    killed: list[str] = []
    peak = [0]

    def watch() -> None:
        t_end = time.monotonic() + timeout_s
        while proc.poll() is None:
            rss = _tree_rss_bytes(proc.pid)
            peak[0] = max(peak[0], rss)
            if rss > kill_bytes or time.monotonic() > t_end:
                killed.append(f"RSS {rss / 2**30:.1f} GiB" if rss > kill_bytes
                              else f"timeout {timeout_s:.0f} s")
                os.killpg(proc.pid, 9)
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    watcher.join()
    lines = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
    tree = {"peak_tree_rss_mib": peak[0] / 2**20}  # sampled every 0.2 s
    if proc.returncode != 0 or not lines:
        why = f"killed ({killed[0]})" if killed else \
            f"exit {proc.returncode}: " + " | ".join(stderr.strip().splitlines()[-3:])
        return {"error": why, **tree}
    return {**json.loads(lines[-1][len("RESULT "):]), **tree}


def _peak_mib(r: dict) -> float:
    """Peak memory of a configuration: its own peak, its largest child's (compiler, Brian2's
    standalone binary), or the sampled peak of the whole process tree, whichever is largest."""
    return max(r["peak_rss_mib"], r["peak_rss_children_mib"], r.get("peak_tree_rss_mib", 0.0))


def _fit_rss(points: list[tuple[int, float]], sim: str, n_syn_per_chain: int, chains: int):
    """Estimated peak RSS (MiB) at ``chains``: a line through the two largest measured B, or the
    prior per-synapse cost above the smallest measurement."""
    pts = sorted(points)
    if len(pts) >= 2 and pts[-1][0] > pts[-2][0]:
        (b1, r1), (b2, r2) = pts[-2], pts[-1]
        slope = max(0.0, (r2 - r1) / (b2 - b1))
        return r2 + slope * (chains - b2), "linear fit of measured RSS"
    per_chain = PRIOR_BYTES_PER_SYNAPSE[sim] * n_syn_per_chain / 2**20
    base, b0 = (pts[-1][1], pts[-1][0]) if pts else (BASE_RSS_MIB, 0)
    return base + per_chain * (chains - b0), f"prior {PRIOR_BYTES_PER_SYNAPSE[sim]:.0f} B/synapse"


def markdown_tables(result: dict) -> str:
    """The README's tables: throughput and ratios at equal B and threads; rates, build, RSS."""
    ok = [r for r in result["rows"] if "chain_bio_s_per_wall_s" in r]
    get = {(r["sim"], r["chains"], r["threads"]): r for r in ok}
    names = {"kernel": "kernel", "torch": "torch", "brian2-standalone": "Brian2 C++",
             "brian2-cython": "Brian2 cython", "nest": "NEST"}

    def fmt(x: float) -> str:
        return f"{x:.3g}" if x < 100 else f"{x:.0f}"

    keys = sorted({(r["threads"], r["chains"]) for r in ok})
    refs = [x for x in REFERENCES if any(r["sim"] == x for r in ok)]
    head = (["T", "B"] + [names[x] for x in SIMS if any(r["sim"] == x for r in ok)]
            + [f"kernel / {names[x]}" for x in refs] + [f"torch / {names[x]}" for x in refs])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t, b in keys:
        cells = [str(t), str(b)]
        for x in SIMS:
            if any(r["sim"] == x for r in ok):
                r = get.get((x, b, t))
                if r is None and x == "brian2-cython" and t > 1:
                    cells.append("(1 thread only)")
                else:
                    cells.append("–" if r is None else
                                 " / ".join(fmt(v) for v in r["chain_bio_s_per_wall_s_runs"]))
        for ours in ("kernel", "torch"):
            for x in refs:
                o, ref = get.get((ours, b, t)), get.get((x, b, t))
                cells.append("–" if o is None or ref is None else
                             f"{o['chain_bio_s_per_wall_s'] / ref['chain_bio_s_per_wall_s']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| simulator | T | B | run ms | rate Hz | build s | peak RSS MiB |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(ok, key=lambda r: (SIMS.index(r["sim"]), r["threads"], r["chains"])):
        rss = _peak_mib(r)
        lines.append(f"| {r['simulator']} | {r['threads']} | {r['chains']} | "
                     f"{r['duration_ms']:.0f} | {r['mean_rate_hz']:.1f} | {r['build_s']:.1f} | "
                     f"{rss:.0f} |")
    # where a reference could not run the largest B: against its largest B (references that
    # simulate B chains as one network have about the same throughput at every B)
    b_max = max(b for _, b in keys)
    extra = []
    for t in sorted({t for t, _ in keys}):
        for x in refs:
            if (x, b_max, t) in get:
                continue
            bs = [b for (s_, b, t_) in get if s_ == x and t_ == t]
            if not bs:
                continue
            ref = get[(x, max(bs), t)]
            for ours in ("kernel", "torch"):
                o = get.get((ours, b_max, t))
                if o is not None:
                    ratio = o["chain_bio_s_per_wall_s"] / ref["chain_bio_s_per_wall_s"]
                    extra.append(f"| {ours} | {t} | {b_max} | {names[x]} at B = {max(bs)} | "
                                 f"{ratio:.1f} |")
    if extra:
        lines += ["", f"Ratios at B = {b_max} where the reference did not fit: against its "
                  "largest measured B", "", "| ours | T | B | reference | ratio |",
                  "|---|---|---|---|---|", *extra]
    skipped = [r for r in result["rows"] if "chain_bio_s_per_wall_s" not in r]
    if skipped:
        lines += ["", "Not measured:"]
        lines += [f"- {names[r['sim']]} T={r['threads']} B={r['chains']}: "
                  f"{r.get('skipped') or r.get('error')}" for r in skipped]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, nargs="+", default=[1, 16, 64, 256])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--sims", nargs="+", choices=SIMS, default=list(SIMS))
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per configuration")
    ap.add_argument("--target-wall-s", type=float, default=8.0,
                    help="duration = this x the expected throughput / B (expected: measured at "
                         "the previous B of the same simulator and thread count)")
    ap.add_argument("--min-ms", type=float, default=50.0)
    ap.add_argument("--max-ms-ours", type=float, default=20_000.0)
    ap.add_argument("--max-ms-ref", type=float, default=500.0)
    ap.add_argument("--rss-limit-gib", type=float, default=12.0,
                    help="skip configurations estimated above this peak RSS")
    ap.add_argument("--rss-kill-gib", type=float, default=14.0,
                    help="kill a configuration whose process tree exceeds this RSS")
    ap.add_argument("--max-run-s", type=float, default=150.0,
                    help="skip configurations whose timed run is expected to take longer")
    ap.add_argument("--timeout-s", type=float, default=600.0, help="per configuration")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "batched_cpu.json")
    ap.add_argument("--table", type=Path, metavar="JSON",
                    help="only print the markdown tables of a results file")
    ap.add_argument("--append", action="store_true",
                    help="keep the rows of --out, replacing those measured again")
    a = ap.parse_args()
    if a.table:
        print(markdown_tables(json.loads(a.table.read_text())))
        return

    import torch

    w = _network().weights_uS
    n_syn_chain = int((w != 0).sum())
    rows: list[dict] = []
    # B ascending outermost, so that the simulators compared at one B run close together in
    # time (the machine's load drifts); per (simulator, threads): the RSS measured so far, the
    # throughput expected at the next B, and whether a smaller B already failed
    rss_points: dict[tuple[str, int], list[tuple[int, float]]] = {}
    expect: dict[tuple[str, int], float] = {}
    failed: dict[tuple[str, int], str] = {}
    if a.append and a.out.exists():  # the guards start from the configurations kept
        for r in sorted(json.loads(a.out.read_text())["rows"], key=lambda r: r["chains"]):
            if "chain_bio_s_per_wall_s" in r and r["chains"] < min(a.chains):
                rss_points.setdefault((r["sim"], r["threads"]), []).append(
                    (r["chains"], _peak_mib(r)))
                expect[(r["sim"], r["threads"])] = r["chain_bio_s_per_wall_s"]
    for chains in sorted(a.chains):
        for threads in a.threads:
            for sim in a.sims:
                if sim == "brian2-cython" and threads != 1:
                    continue  # Brian2's runtime mode is single-threaded
                key = (sim, threads)
                exp = expect.setdefault(key, PRIOR_THROUGHPUT[sim])
                max_ms = a.max_ms_ref if sim in REFERENCES else a.max_ms_ours
                min_ms = MIN_MS.get(sim, a.min_ms)
                dur = round(min(max_ms, max(min_ms, a.target_wall_s * exp / chains * 1e3)))
                cfg = {"sim": sim, "chains": chains, "threads": threads, "duration_ms": dur}
                est, how = _fit_rss(rss_points.setdefault(key, []), sim, n_syn_chain, chains)
                est_run_s = chains * dur * 1e-3 / exp
                skip = None
                if key in failed:
                    skip = f"a smaller B failed: {failed[key]}"
                elif est > a.rss_limit_gib * 1024:
                    skip = (f"estimated peak RSS {est / 1024:.1f} GiB ({how}) > limit "
                            f"{a.rss_limit_gib} GiB")
                elif est_run_s > a.max_run_s:
                    skip = (f"estimated run {est_run_s:.0f} s per repeat at {dur} ms (throughput "
                            f"{exp:.3g} chain-bio-s/s at the previous B) > {a.max_run_s} s")
                if skip:
                    rows.append({**cfg, "skipped": skip, "estimated_peak_rss_mib": est})
                    print(rows[-1], flush=True)
                    continue
                if sim in ("kernel", "torch"):
                    call = f"b.run_ours({sim!r}, {chains}, {threads}, {dur}, {a.repeats})"
                elif sim == "brian2-cython":
                    call = f"b.run_brian2_cython({chains}, {dur}, {a.repeats})"
                elif sim == "brian2-standalone":
                    call = f"b.run_brian2_standalone({chains}, {threads}, {dur}, {a.repeats})"
                else:
                    call = f"b.run_nest({chains}, {threads}, {dur}, {a.repeats})"
                t0, load0 = time.perf_counter(), os.getloadavg()[0]
                r = _subprocess(call, threads, int(a.rss_kill_gib * 2**30), a.timeout_s)
                r = {**cfg, **r, "estimated_peak_rss_mib": est,
                     "config_wall_s": time.perf_counter() - t0,
                     "loadavg_1min_before_after": [load0, os.getloadavg()[0]]}
                rows.append(r)
                print({k: v for k, v in r.items() if not k.endswith("_runs")}, flush=True)
                if "error" in r:
                    failed[key] = f"B={chains}: {r['error']}"
                    continue
                rss_points[key].append((chains, _peak_mib(r)))
                expect[key] = r["chain_bio_s_per_wall_s"]
                partial = a.out.with_suffix(".partial.json")
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps({"rows": rows}, indent=1) + "\n")

    if a.append and a.out.exists():
        again = {(r["sim"], r["chains"], r["threads"]) for r in rows}
        kept = [r for r in json.loads(a.out.read_text())["rows"]
                if (r["sim"], r["chains"], r["threads"]) not in again]
        rows = sorted(kept + rows, key=lambda r: (r["chains"], r["threads"], SIMS.index(r["sim"])))
    # ratios ours / reference at the same B and thread count
    ok = [r for r in rows if "chain_bio_s_per_wall_s" in r]
    for r in ok:
        if r["sim"] in REFERENCES:
            continue
        for ref in REFERENCES:
            match = [x for x in ok if x["sim"] == ref and x["chains"] == r["chains"]
                     and x["threads"] == r["threads"]]
            if match:
                r[f"ratio_vs_{ref}"] = r["chain_bio_s_per_wall_s"] / \
                    match[0]["chain_bio_s_per_wall_s"]
    largest = {}
    for ref in REFERENCES:
        for t in a.threads:
            bs = [x["chains"] for x in ok if x["sim"] == ref and x["threads"] == t]
            if bs:
                largest[f"{ref} T={t}"] = max(bs)
    result = {"description": __doc__.split("\n\n")[0].replace("\n", " "),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other "
                         "jobs: absolute times are upper bounds; compare ratios within one run)",
              "python": platform.python_version(), "torch": torch.__version__,
              "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "omp_wait_policy": OMP_WAIT_POLICY, "synapses_per_chain": n_syn_chain,
              "neurons_per_chain": int(w.shape[0]),
              "throughput_unit": "chain-biological-seconds per wall-second, all chains together "
                                 "(best of the repeats; every repeat under *_runs)",
              "largest_B_measured": largest, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                      for k, v in vars(a).items()},
              "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    a.out.with_suffix(".partial.json").unlink(missing_ok=True)
    print(markdown_tables(result))
    print(f"\n{'simulator':58s} {'T':>2s} {'B':>4s} {'bio-s/s':>8s} {'rate':>5s} "
          f"{'build s':>7s} {'RSS MiB':>8s}")
    for r in ok:
        print(f"{r['simulator']:58s} {r['threads']:2d} {r['chains']:4d} "
              f"{r['chain_bio_s_per_wall_s']:8.2f} {r['mean_rate_hz']:5.1f} {r['build_s']:7.1f} "
              f"{_peak_mib(r):8.0f}  " +
              " ".join(f"x{k[9:]}={v:.1f}" for k, v in r.items() if k.startswith("ratio_vs_")))


if __name__ == "__main__":
    main()
