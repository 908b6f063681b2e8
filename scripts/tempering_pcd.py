"""Issue 8 items 3 and 5 on the PCD MNIST RBM (``out/rbm_mnist_500.npz``, 97 % test accuracy)
with issue 7's fast-membrane neuron (``spiking_rbm.default_calibration``, tau_m = 0.1 ms).

Each condition is one run of ``CHAINS`` chains x ``DURATION_MS`` of biological time (or the same
number of sweeps for Gibbs/AST), all from the same test images; raw samples go to
``out/tempering/pcd/<name>.npz`` and ``table`` computes the statistics of docs/tempering.md §3
(one fixed classifier: logistic regression on full MNIST, as in docs/stp.md; ISL at beta 0.95 on
1,000 full-MNIST test images with a common number of samples).

Temperature map: HCS theory for the fast-membrane neuron anchored to its measured calibration at
3 kHz (``TemperatureMap.anchored``); T = sqrt(nu/nu0) to 0.1 % over 1-50 kHz.

Usage (repository root, ``LIFSAMPLING_DATA=/work/shared/data/mnist``)::

    nice -n 19 python scripts/tempering_pcd.py run osc_T2_4hz const_7k5 gibbs ast
    python scripts/tempering_pcd.py table [--isl-n 1280] [names...]
        # name:k = every k-th sample; const@osc = constant run read at osc's trough times
    python scripts/tempering_pcd.py list
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lifsampling import metrics  # noqa: E402
from lifsampling.boltzmann.train import load_rbm  # noqa: E402
from lifsampling.datasets import binarize, load_mnist  # noqa: E402
from lifsampling.experiments import tempering_mnist as tm  # noqa: E402
from lifsampling.params import SynapseParams  # noqa: E402
from lifsampling.spiking_rbm import default_calibration  # noqa: E402
from lifsampling.temperature import TemperatureMap, theory_temperature_map  # noqa: E402

torch.set_num_threads(1)

MODEL = "out/rbm_mnist_500.npz"
OUT = Path("out/tempering/pcd")
CHAINS = int(os.environ.get("TEMPERING_CHAINS", 16))
DURATION_MS = float(os.environ.get("TEMPERING_DURATION_MS", 20000))
RECORD_MS = 5.0
# the engine backend of the spiking runs. The tables of docs/tempering.md §3 were made with
# "torch"; the kernel ("auto") was suspected of blank images under an oscillating rate, but a
# direct check gives the same mean pixel on both backends (engine commit 0097528), and ~10x
# shorter runs
BACKEND = os.environ.get("TEMPERING_BACKEND", "torch")
MAP_RATES = (1000, 2000, 3000, 4000, 4875, 5000, 6000, 7500, 10000, 12000, 15000, 20000,
             25000, 30000, 40000, 50000)
# Tsodyks-Markram STP of docs/stp.md: U 0.1, tau_rec 280 ms, weight scale renormalised on a
# pilot run of this model and neuron (out/stp/mixing_fast.json, stp_renormalisation.synapse)
STP = SynapseParams("tsodyks_markram", U=0.1, tau_rec_ms=280.0, weight_scale=12.97252538976557)


def _rhythm(trough_hz: float, t_peak: float, f_hz: float) -> tm.Rhythm:
    """Trough at ``trough_hz`` (the mapping rate), peak at nu0 T_peak^2."""
    a = 0.5 * trough_hz * (t_peak**2 - 1.0)
    return tm.Rhythm(trough_hz + a, a, f_hz)


CONDITIONS: dict[str, dict] = {
    # trough 3 kHz = the fast-membrane neuron's calibration rate
    "const_3k": {"rhythm": tm.Rhythm(3000.0)},
    "osc_T1.5_4hz": {"rhythm": _rhythm(3000.0, 1.5, 4.0)},
    "const_4k875": {"rhythm": tm.Rhythm(4875.0)},
    "osc_T1.25_1hz": {"rhythm": _rhythm(3000.0, 1.25, 1.0)},
    "osc_T1.25_4hz": {"rhythm": _rhythm(3000.0, 1.25, 4.0)},
    "osc_T1.25_10hz": {"rhythm": _rhythm(3000.0, 1.25, 10.0)},
    "const_3k844": {"rhythm": tm.Rhythm(3843.75)},
    "osc_T1.5_1hz": {"rhythm": _rhythm(3000.0, 1.5, 1.0)},
    "osc_T1.5_10hz": {"rhythm": _rhythm(3000.0, 1.5, 10.0)},
    "osc_T2_1hz": {"rhythm": _rhythm(3000.0, 2.0, 1.0)},
    "osc_T2_4hz": {"rhythm": _rhythm(3000.0, 2.0, 4.0)},
    "osc_T2_10hz": {"rhythm": _rhythm(3000.0, 2.0, 10.0)},
    "const_7k5": {"rhythm": tm.Rhythm(7500.0)},
    "osc_T3_4hz": {"rhythm": _rhythm(3000.0, 3.0, 4.0)},
    "const_15k": {"rhythm": tm.Rhythm(15000.0)},
    # high-rate mapping: trough (and calibration, from the anchored map) at 10 kHz
    "hi_osc_T2_4hz": {"rhythm": _rhythm(10000.0, 2.0, 4.0)},
    "hi_const_25k": {"rhythm": tm.Rhythm(25000.0)},
    "hi_osc_T2_1hz": {"rhythm": _rhythm(10000.0, 2.0, 1.0)},
    "hi_const_10k": {"rhythm": tm.Rhythm(10000.0)},
    # item 5: with STP
    "stp_const_3k": {"rhythm": tm.Rhythm(3000.0), "stp": True},
    "stp_osc_T2_4hz": {"rhythm": _rhythm(3000.0, 2.0, 4.0), "stp": True},
    "stp_const_7k5": {"rhythm": tm.Rhythm(7500.0), "stp": True},
    "stp_osc_T1.5_4hz": {"rhythm": _rhythm(3000.0, 1.5, 4.0), "stp": True},
    "stp_const_4k875": {"rhythm": tm.Rhythm(4875.0), "stp": True},
    "stp_osc_T1.25_4hz": {"rhythm": _rhythm(3000.0, 1.25, 4.0), "stp": True},
    "stp_const_3k844": {"rhythm": tm.Rhythm(3843.75), "stp": True},
    "stp_osc_T2_1hz": {"rhythm": _rhythm(3000.0, 2.0, 1.0), "stp": True},
    "gibbs": {"classical": "gibbs"},
    "ast": {"classical": "ast"},
}


def temperature_map() -> TemperatureMap:
    path = OUT / "tmap_fast.json"
    if path.is_file():
        return TemperatureMap.load(path)
    base = default_calibration()
    tmap = theory_temperature_map(MAP_RATES, reference_rate_hz=3000.0, neuron=base.neuron,
                                  noise=base.noise)
    tmap = tmap.anchored(3000.0, base.u0_mV, base.alpha_mV)
    OUT.mkdir(parents=True, exist_ok=True)
    tmap.save(path)
    return tmap


def _ast(rbm, sweeps: int, init) -> dict:
    """AST with docs/stp.md's ladder (20 betas, 1 -> 0.8): about one beta = 1 sample per 75
    sweeps on this model (docs/stp.md: 75.6), so each chain is asked for sweeps / 75 samples;
    the run lasts until the slowest chain has them (``info['steps']``, reported: the budget is
    met on average, the slowest chain overshoots it)."""
    from lifsampling.boltzmann import ASTSampler

    s = ASTSampler(betas=torch.linspace(1.0, 0.8, 20), max_steps_per_sample=sweeps)
    n = max(2, round(sweeps / 75))
    states = s.sample(rbm.to(dtype=torch.float32), n, chains=CHAINS, seed=0,
                      init=torch.as_tensor(init))
    vis = states[..., : rbm.n_visible].to(torch.uint8).numpy()
    info = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in s.info.items()
            if k != "log_weights"}
    return {"visible": vis, "info": info, "sweeps": sweeps}


def run(name: str) -> None:
    cond = CONDITIONS[name]
    rbm, _ = load_rbm(MODEL)
    init = tm.initial_images(rbm, CHAINS, 0)
    t0 = time.perf_counter()
    if cond.get("classical") == "ast":
        r = _ast(rbm, int(DURATION_MS / tm.TAU_REF_MS), init)
        meta = {"kind": "ast", "sweeps": r["sweeps"], "info": r["info"]}
        times = None
    elif "classical" in cond:
        r = tm.run_classical(rbm, cond["classical"], int(DURATION_MS / tm.TAU_REF_MS), CHAINS,
                             0, init=init)
        meta = {"kind": cond["classical"], "sweeps": r["sweeps"], "info": r["info"]}
        times = None
    else:
        rh = cond["rhythm"]
        r = tm.run_lif(rbm, temperature_map(), default_calibration(), rh,
                       duration_ms=DURATION_MS, chains=CHAINS, seed=0, init=init,
                       synapse=STP if cond.get("stp") else None, record_ms=RECORD_MS,
                       backend=BACKEND)
        meta = {"kind": "lif", "mean_hz": rh.mean_hz, "amplitude_hz": rh.amplitude_hz,
                "frequency_hz": rh.frequency_hz, "trough_hz": rh.trough_hz,
                "stp": bool(cond.get("stp")), "u0_mV": r["u0_mV"], "alpha_mV": r["alpha_mV"],
                "backend": BACKEND}
        times = r["times_ms"]
    meta.update(name=name, chains=CHAINS, duration_ms=DURATION_MS,
                wall_s=time.perf_counter() - t0, model=MODEL)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / f"{name}.npz", visible=r["visible"],
                        times_ms=np.asarray([] if times is None else times),
                        meta=np.array(json.dumps(meta)))
    print(f"{name}: {r['visible'].shape} in {meta['wall_s']:.0f} s", flush=True)


def _load(name: str, with_times: bool = False):
    d = np.load(OUT / f"{name}.npz")
    vis, meta, times = d["visible"], json.loads(str(d["meta"])), d["times_ms"]
    if meta["kind"] == "lif" and meta["amplitude_hz"] > 0:
        # drop read-outs outside the trough window (runs made before the trough_indices fix
        # could hold one end-of-run sample at 1 Hz)
        rh = tm.Rhythm(meta["mean_hz"], meta["amplitude_hz"], meta["frequency_hz"])
        nu = np.array([rh.rate()(t) for t in d["times_ms"]])
        keep = nu <= rh.trough_hz * 1.02**2 + 1e-6
        meta["dropped_samples_per_chain"] = int((~keep).sum())
        vis, times = vis[:, keep], times[keep]
    return (vis, meta, times) if with_times else (vis, meta)


def _matched(const: str, osc: str) -> tuple[np.ndarray, dict]:
    """Constant-noise run ``const`` read only at the recorded times nearest to the trough
    samples of oscillation run ``osc`` (same spacing, same count: the matched-read-out control)."""
    vis, meta, times = _load(const, with_times=True)
    _, _, t_osc = _load(osc, with_times=True)
    idx = np.unique(np.clip(np.floor((t_osc - times[0]) / (times[1] - times[0]) + 1e-9).astype(int),
                            0, len(times) - 1))
    return vis[:, idx], dict(meta, matched_to=osc)


def table(names: list[str], isl_n: int | None) -> dict:
    rbm, _ = load_rbm(MODEL)
    clf = metrics.mnist_classifier()
    ds = load_mnist("auto", download=False)
    x_test = binarize(ds.x_test[:1000]).astype(np.float32)
    prop = np.bincount(ds.y_train, minlength=10) / len(ds.y_train)
    runs = {}
    for n in names:  # "name:k" = every k-th sample of run "name"; "const@osc" = run "const"
        base, _, k = n.partition(":")  # read at the trough times of run "osc" (_matched)
        if "@" in n:
            c, o = n.split("@")
            if (OUT / f"{c}.npz").is_file() and (OUT / f"{o}.npz").is_file():
                runs[n] = _matched(c, o)
        elif (OUT / f"{base}.npz").is_file():
            vis, meta = _load(base)
            runs[n] = (vis[:, :: int(k)] if k else vis, meta)
    n_common = isl_n or min(v.shape[0] * v.shape[1] for v, _ in runs.values())
    res = {"classifier": clf.meta, "isl_samples": n_common, "rows": {}}
    for n, (vis, meta) in runs.items():
        bio = meta["chains"] * meta["duration_ms"] / 1000.0
        st = tm.statistics(vis, rbm, clf, x_test, prop, bio, n_common)
        st["subseq_per_chain_s"] = st["confident_subsequence_switches"] / bio
        st["consecutive_per_chain_s"] = st["confident_switches"] / bio
        res["rows"][n] = {"meta": meta, "stats": st}
    print(f"classifier {clf.meta['train_source']} (test acc {clf.meta['test_accuracy']:.3f}); "
          f"ISL on {n_common} samples")
    print("| run | samples | conf. switches /1000 consecutive (count) | conf. switches /1000 "
          "skip-uncertain (count; per chain-s) | all switches /1000 | confident fraction | "
          "classes / chain (total; confident) | ISL | mean pixel | class-hist TV | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, row in res["rows"].items():
        s = row["stats"]
        print(f"| {n} | {s['samples']} | {s['confident_switches_per_1000']:.2f} "
              f"({s['confident_switches']:.0f}) | "
              f"{s['confident_subsequence_switches_per_1000']:.2f} "
              f"({s['confident_subsequence_switches']}; {s['subseq_per_chain_s']:.3f}) | "
              f"{s['switches_per_1000']:.1f} | {s['confident_fraction']:.2f} | "
              f"{s['classes_visited_per_chain']:.2f} ({s['classes_visited_total']}; "
              f"{s['classes_visited_confident']}) | {s['isl']:.1f} | "
              f"{s['mean_intensity']:.3f} | {s['class_histogram_tv']:.2f} | "
              f"{row['meta']['wall_s']:.0f} |")
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["run", "table", "list"])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--isl-n", type=int, default=None)
    ap.add_argument("--out", default=None, help="table: also write the JSON here")
    a = ap.parse_args(argv)
    if a.what == "list":
        for n, c in CONDITIONS.items():
            print(n, c.get("rhythm", c.get("classical")), "STP" if c.get("stp") else "")
        return
    if a.what == "run":
        for n in a.names:
            if n not in CONDITIONS:
                sys.exit(f"unknown condition {n!r}; see `list`")
        for n in a.names:
            run(n)
        return
    res = table(a.names or list(CONDITIONS), a.isl_n)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
