"""Claim ``throughput`` (docs/core.md §4): chain-biological seconds per wall second of our
engine against Brian2 on the same RBM-shaped network (the network of
``benchmarks/bench_engine.py``), in the same process and run.

The figure is a ratio of speeds and depends on the machine and its load; the non-timing part of
the claim, which tests check, is that both simulators ran the same network: their mean rates
agree within the statistical error of the spike counts.
"""

from __future__ import annotations

import time

import numpy as np

from . import Claim, ClaimConfig, register


def rbm_network(n_visible: int = 794, n_hidden: int = 500, seed: int = 0):
    """RBM-shaped random network mapped with the shipped sbs calibration: W ~ U(-0.5, 0.5)
    between the layers, biases ~ U(-1, 1), 3 kHz background (~63 Hz mean rate at 794 + 500).

    Additive synapses, the model Brian2 runs (``ge += w``): the benchmark script used the
    engine's default renewing synapses, which cap the conductance during bursts, so its two
    simulators ran slightly different networks; here they run the same one."""
    import torch

    from ...calibration import load_calibration
    from ...mapping import bm_to_network
    from ...params import ADDITIVE

    g = torch.Generator().manual_seed(seed)
    n = n_visible + n_hidden
    W = torch.zeros(n, n, dtype=torch.float64)
    Wvh = torch.rand(n_visible, n_hidden, generator=g, dtype=torch.float64) - 0.5
    W[:n_visible, n_visible:] = Wvh
    W[n_visible:, :n_visible] = Wvh.T
    b = 2 * torch.rand(n, generator=g, dtype=torch.float64) - 1
    return bm_to_network(W, b, load_calibration("sbs-tutorial"), synapse=ADDITIVE)


def run_ours(net, chains: int, duration_ms: float, device: str, seed: int = 1) -> dict:
    """Our engine (default backend: the compiled kernel on the CPU); compilation / kernel
    loading happens in an untimed 1 ms run first."""
    import torch

    from ...engine import simulate

    simulate(net, 1.0, chains=chains, device=device, seed=seed + 1)
    t0 = time.perf_counter()
    res = simulate(net, duration_ms, chains=chains, device=device, seed=seed)
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    per_chain = res.rates_hz.double().mean(-1).cpu().numpy()  # (B,) mean over neurons
    return {"simulator": "lifsampling", "chains": chains, "duration_ms": duration_ms,
            "wall_s": wall, "chain_bio_s_per_wall_s": chains * duration_ms * 1e-3 / wall,
            "mean_rate_hz": float(per_chain.mean()),
            "rate_se_hz": float(per_chain.std(ddof=1) / np.sqrt(chains)) if chains > 1
            else None, "per_chain_rate_hz": per_chain.tolist()}


def run_brian2(net, duration_ms: float, target: str, seed: int = 0, copies: int = 1) -> dict:
    """The same network in Brian2 (``target`` numpy or cython), ``copies`` disconnected copies
    simulated as one network (block-diagonal synapses, independent Poisson input per neuron),
    so that it does the same work as ``copies`` of our chains; code generation runs in an
    untimed 1 ms first run."""
    import brian2 as b2

    from ...reference.brian2_model import neuron_group

    noise, n = net.noise, net.n
    g = neuron_group(n * copies, net.neuron, np.tile(net.e_leak_mV.numpy(), copies),
                     target=target)
    b2.seed(seed)
    if net.synapse.kind != "additive":
        raise ValueError("the Brian2 model has additive synapses only")
    w_mat = net.weights_uS.numpy()
    offsets = (n * np.arange(copies))[:, None]

    def block(mask):
        pre, post = np.nonzero(mask)
        return ((pre[None] + offsets).ravel(), (post[None] + offsets).ravel(),
                np.tile(np.abs(w_mat[pre, post]), copies))

    pre, post, w = block(w_mat > 0)
    se = b2.Synapses(g, g, "w : siemens", on_pre="ge += w", delay=0.1 * b2.ms)
    se.connect(i=pre, j=post)
    se.w = w * b2.uS
    pre, post, w = block(w_mat < 0)
    si = b2.Synapses(g, g, "w : siemens", on_pre="gi += w", delay=0.1 * b2.ms)
    si.connect(i=pre, j=post)
    si.w = w * b2.uS
    pe = b2.PoissonInput(g, "ge", 1, noise.rate_exc_hz * b2.Hz, weight=noise.w_exc_uS * b2.uS)
    pi = b2.PoissonInput(g, "gi", 1, noise.rate_inh_hz * b2.Hz, weight=noise.w_inh_uS * b2.uS)
    mon = b2.SpikeMonitor(g)
    bnet = b2.Network(g, se, si, pe, pi, mon)
    bnet.run(1 * b2.ms)
    n0 = len(mon.i)
    t0 = time.perf_counter()
    bnet.run(duration_ms * b2.ms)
    wall = time.perf_counter() - t0
    count = len(mon.i) - n0
    return {"simulator": f"brian2 {b2.__version__} ({target}, 1 thread)", "chains": copies,
            "duration_ms": duration_ms, "wall_s": wall,
            "chain_bio_s_per_wall_s": copies * duration_ms * 1e-3 / wall,
            "mean_rate_hz": count / (n * copies) / (duration_ms * 1e-3), "spikes": int(count)}


def _params(config: ClaimConfig) -> dict:
    q = config.quick
    return {"n_visible": 79 if q else 794, "n_hidden": 50 if q else 500, "network_seed": 0,
            "chains": 16, "ours_duration_ms": 500.0 if q else 2000.0,
            "brian2_duration_ms": 500.0,
            "brian2_target": "numpy" if q else "cython", "dt_ms": 0.1, "threads": 1,
            "note": "equal work and threads: Brian2 simulates the same B chains as one network "
                    "of B disconnected copies, 1 thread each; quick: a 129-neuron version and "
                    "Brian2's numpy target (no C compiler needed); full: the 1294-neuron "
                    "benchmark network, B = 16, Brian2 cython. benchmarks/bench_batched.py "
                    "adds Brian2 C++ standalone and NEST at B = 1-256"}


def _run(config: ClaimConfig) -> dict:
    import torch

    torch.set_num_threads(1)
    import numba

    numba.set_num_threads(1)
    p = _params(config)
    net = rbm_network(p["n_visible"], p["n_hidden"], p["network_seed"])
    from ...engine import resolve_device

    dev = str(resolve_device(config.device))
    ours = run_ours(net, p["chains"], p["ours_duration_ms"], dev)
    brian = run_brian2(net, p["brian2_duration_ms"], p["brian2_target"], copies=p["chains"])
    ratio = ours["chain_bio_s_per_wall_s"] / brian["chain_bio_s_per_wall_s"]
    # standard error of Brian2's mean rate: same process, so the variance per unit of
    # biological time is ours; Brian2 ran 1 chain for brian2_duration_ms
    se_o = ours["rate_se_hz"]
    se_b = None if se_o is None else se_o * float(np.sqrt(
        p["ours_duration_ms"] / p["brian2_duration_ms"]))
    return {"figure": ratio, "per_seed": [], "raw": {"ours": ours, "brian2": brian},
            "extras": {
                "statistic": "chain-biological seconds per wall second, ours / Brian2, both "
                             "simulating the same B chains on 1 thread",
                "ours_chain_bio_s_per_wall_s": ours["chain_bio_s_per_wall_s"],
                "brian2_chain_bio_s_per_wall_s": brian["chain_bio_s_per_wall_s"],
                "brian2_target": p["brian2_target"], "device": dev, "neurons": net.n,
                "chains": p["chains"], "mean_rate_hz_ours": ours["mean_rate_hz"],
                "mean_rate_hz_brian2": brian["mean_rate_hz"], "rate_se_hz_ours": se_o,
                "rate_se_hz_brian2": se_b,
                "timing_note": "a speed ratio: depends on the machine and its load"}}


register(Claim(
    name="throughput",
    summary="per-chain throughput vs Brian2 cython simulating the same B = 16 chains as one "
            "network, 1 thread each (CPU)",
    doc="docs/core.md §4", reference=8.0, unit="x Brian2", run=_run, parameters=_params,
    seeded=False))
