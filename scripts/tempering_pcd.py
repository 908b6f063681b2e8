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

    # seed-replicated study (docs/tempering.md §3-6): kernel backend, start images and noise
    # from each seed, files <name>_s<seed>.npz (existing files are kept, not rerun)
    python scripts/tempering_pcd.py run const_3k844 osc_T1.25_10hz gibbs ast --seeds 0 1 2 3
    python scripts/tempering_pcd.py table const_3k844 osc_T1.25_10hz \
        const_3k844@osc_T1.25_10hz gibbs ast --seeds 0 1 2 3 [--out t.json] [--plot grid.png]
    # the single-seed table of §A1 (torch path, test-image starts)
    TEMPERING_BACKEND=torch python scripts/tempering_pcd.py run osc_T2_4hz const_7k5 gibbs
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
# the engine backend of the spiking runs. The single-seed table of docs/tempering.md §A1 was
# made with "torch"; the seed-replicated tables (``--seeds``) with the compiled kernel ("auto":
# the same mean pixel as torch under an oscillating rate, engine commit 0097528, ~10x faster)
BACKEND = os.environ.get("TEMPERING_BACKEND", "auto")
MAP_RATES = (1000, 2000, 3000, 4000, 4875, 5000, 6000, 7500, 10000, 12000, 15000, 20000,
             25000, 30000, 40000, 50000)
# Tsodyks-Markram STP of docs/stp.md: U 0.1, tau_rec 280 ms, weight scale renormalised on a
# pilot run of this model and neuron (out/stp/mixing_fast.json, stp_renormalisation.synapse)
STP = SynapseParams("tsodyks_markram", U=0.1, tau_rec_ms=280.0, weight_scale=12.97252538976557)


def _rhythm(trough_hz: float, t_peak: float, f_hz: float) -> tm.Rhythm:
    """Trough at ``trough_hz`` (the mapping rate), peak at nu0 T_peak^2."""
    a = round(0.5 * trough_hz * (t_peak**2 - 1.0), 6)
    return tm.Rhythm(trough_hz + a, a, f_hz)


CONDITIONS: dict[str, dict] = {
    # trough 3 kHz = the fast-membrane neuron's calibration rate
    "const_3k": {"rhythm": tm.Rhythm(3000.0)},
    "osc_T3_4hz": {"rhythm": _rhythm(3000.0, 3.0, 4.0)},
    "const_15k": {"rhythm": tm.Rhythm(15000.0)},
    # high-rate mapping: trough (and calibration, from the anchored map) at 10 kHz
    "hi_osc_T2_4hz": {"rhythm": _rhythm(10000.0, 2.0, 4.0)},
    "hi_const_25k": {"rhythm": tm.Rhythm(25000.0)},
    "hi_osc_T2_1hz": {"rhythm": _rhythm(10000.0, 2.0, 1.0)},
    "hi_const_10k": {"rhythm": tm.Rhythm(10000.0)},
    "hi_osc_T1.25_10hz": {"rhythm": _rhythm(10000.0, 1.25, 10.0)},
    "hi_const_12k813": {"rhythm": tm.Rhythm(12812.5)},
    "gibbs": {"classical": "gibbs"},
    "ast": {"classical": "ast"},
}
# item 4's grid: peak temperature x frequency, trough 3 kHz, each against constant noise of the
# same mean rate nu0 (1 + T_peak^2) / 2 (``CONSTANT_FOR``)
GRID_T = (1.1, 1.25, 1.5, 2.0)
GRID_F = (1.0, 4.0, 10.0, 30.0, 80.0)
CONSTANT_FOR: dict[str, str] = {}
for _t in GRID_T:
    _mean = 3000.0 * (1.0 + _t**2) / 2.0
    _const = f"const_{_mean / 1000:.3f}".rstrip("0").rstrip(".").replace(".", "k")
    CONDITIONS[_const] = {"rhythm": tm.Rhythm(_mean)}
    CONDITIONS[f"stp_{_const}"] = {"rhythm": tm.Rhythm(_mean), "stp": True}
    for _f in GRID_F:
        _name = f"osc_T{_t:g}_{_f:g}hz"
        CONDITIONS[_name] = {"rhythm": _rhythm(3000.0, _t, _f)}
        CONDITIONS[f"stp_{_name}"] = {"rhythm": _rhythm(3000.0, _t, _f), "stp": True}
        CONSTANT_FOR[_name] = _const
        CONSTANT_FOR[f"stp_{_name}"] = f"stp_{_const}"
CONDITIONS["stp_const_3k"] = {"rhythm": tm.Rhythm(3000.0), "stp": True}
CONSTANT_FOR["hi_osc_T1.25_10hz"] = "hi_const_12k813"


def record_ms(rhythm: tm.Rhythm) -> float:
    """State recording interval: 5 ms up to 4 Hz (a 16-chain x 20 s run in ~0.3 GB), 1 ms at
    10 Hz and above so that the recorded time nearest a trough centre is within 1.5 % of a
    period of it (T <= 1.001 there)."""
    return 1.0 if rhythm.oscillating and rhythm.frequency_hz > 4.0 else RECORD_MS


def _file(name: str, seed: int | None) -> Path:
    """Raw samples of condition ``name``: seed None = the single-seed torch-path table of §A1."""
    return OUT / (f"{name}.npz" if seed is None else f"{name}_s{seed}.npz")


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


def _ast(rbm, sweeps: int, init, seed: int) -> dict:
    """AST with docs/stp.md's ladder (20 betas, 1 -> 0.8) for exactly ``sweeps`` steps (one
    Gibbs sweep each, the Gibbs budget); each chain keeps what it emitted at beta = 1
    (``ASTSampler.sample_budget``): ragged, stored concatenated with per-chain ``counts``."""
    from lifsampling.boltzmann import ASTSampler

    s = ASTSampler(betas=torch.linspace(1.0, 0.8, 20))
    per_chain = s.sample_budget(rbm.to(dtype=torch.float32), sweeps, chains=CHAINS, seed=seed,
                                init=torch.as_tensor(init))
    vis = torch.cat(per_chain)[:, : rbm.n_visible].to(torch.uint8).numpy()
    info = {k: v for k, v in s.info.items() if k != "log_weights"}
    return {"visible": vis, "counts": np.array([len(c) for c in per_chain]), "info": info,
            "sweeps": sweeps}


def run(name: str, seed: int | None = None) -> None:
    """One condition; ``seed`` (None: 0, single-seed file name) sets the start images and the
    noise."""
    cond = CONDITIONS[name]
    rbm, _ = load_rbm(MODEL)
    k = seed or 0
    init = tm.initial_images(rbm, CHAINS, k)
    t0 = time.perf_counter()
    if cond.get("classical") == "ast":
        r = _ast(rbm, int(DURATION_MS / tm.TAU_REF_MS), init, k)
        meta = {"kind": "ast", "sweeps": r["sweeps"], "info": r["info"],
                "counts": r["counts"].tolist()}
        times = None
    elif "classical" in cond:
        r = tm.run_classical(rbm, cond["classical"], int(DURATION_MS / tm.TAU_REF_MS), CHAINS,
                             k, init=init)
        meta = {"kind": cond["classical"], "sweeps": r["sweeps"], "info": r["info"]}
        times = None
    else:
        rh = cond["rhythm"]
        r = tm.run_lif(rbm, temperature_map(), default_calibration(), rh,
                       duration_ms=DURATION_MS, chains=CHAINS, seed=k, init=init,
                       synapse=STP if cond.get("stp") else None, record_ms=record_ms(rh),
                       backend=BACKEND)
        meta = {"kind": "lif", "mean_hz": rh.mean_hz, "amplitude_hz": rh.amplitude_hz,
                "frequency_hz": rh.frequency_hz, "trough_hz": rh.trough_hz,
                "stp": bool(cond.get("stp")), "u0_mV": r["u0_mV"], "alpha_mV": r["alpha_mV"],
                "backend": BACKEND}
        times = r["times_ms"]
    meta.update(name=name, chains=CHAINS, duration_ms=DURATION_MS, seed=k,
                wall_s=time.perf_counter() - t0, model=MODEL)
    OUT.mkdir(parents=True, exist_ok=True)
    path = _file(name, seed)
    tmp = path.with_suffix(".tmp.npz")  # no half-written file if interrupted
    np.savez_compressed(tmp, visible=r["visible"],
                        times_ms=np.asarray([] if times is None else times),
                        meta=np.array(json.dumps(meta)))
    tmp.replace(path)
    print(f"{path.name}: {r['visible'].shape} in {meta['wall_s']:.0f} s", flush=True)


def _load(name: str, with_times: bool = False, seed: int | None = None):
    d = np.load(_file(name, seed))
    vis, meta, times = d["visible"], json.loads(str(d["meta"])), d["times_ms"]
    if seed is None and meta["kind"] == "lif" and meta["amplitude_hz"] > 0:
        # drop read-outs outside the trough window (runs made before the trough_indices fix
        # could hold one end-of-run sample at 1 Hz)
        rh = tm.Rhythm(meta["mean_hz"], meta["amplitude_hz"], meta["frequency_hz"])
        nu = np.array([rh.rate()(t) for t in d["times_ms"]])
        keep = nu <= rh.trough_hz * 1.02**2 + 1e-6
        meta["dropped_samples_per_chain"] = int((~keep).sum())
        vis, times = vis[:, keep], times[keep]
    return (vis, meta, times) if with_times else (vis, meta)


def _matched(const: str, osc: str, seed: int | None = None) -> tuple[np.ndarray, dict]:
    """Constant-noise run ``const`` read only at the recorded times nearest to the trough
    samples of oscillation run ``osc`` (same spacing, same count: the matched-read-out control)."""
    vis, meta, times = _load(const, with_times=True, seed=seed)
    _, _, t_osc = _load(osc, with_times=True, seed=seed)
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


def _stats(name: str, seed: int, ctx: dict, isl_n: int) -> dict:
    if "@" in name:  # "const@osc": the constant run read at the oscillation's trough times
        vis, meta = _matched(*name.split("@"), seed=seed)
    else:
        vis, meta = _load(name, seed=seed)
    bio = meta["chains"] * meta["duration_ms"] / 1000.0
    if meta["kind"] == "ast":  # ragged chains, stored concatenated
        vis = np.split(vis, np.cumsum(meta["counts"])[:-1])
    st = tm.statistics(vis, ctx["rbm"], ctx["clf"], ctx["x_test"], ctx["prop"], bio, isl_n,
                       seed=seed)
    return {"meta": meta, "stats": st}


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def table_seeds(names: list[str], seeds: list[int], isl_n: int) -> dict:
    """Seed-replicated statistics: switch counts summed over seeds, ISL (``isl_n`` samples per
    seed) as mean +- standard error over seeds, and for each oscillation the paired ISL
    difference to its constant-noise condition (``CONSTANT_FOR``, same seed = same start
    images) when that is in ``names``."""
    rbm, _ = load_rbm(MODEL)
    ds = load_mnist("auto", download=False)
    ctx = {"rbm": rbm, "clf": metrics.mnist_classifier(),
           "x_test": binarize(ds.x_test[:1000]).astype(np.float32),
           "prop": np.bincount(ds.y_train, minlength=10) / len(ds.y_train)}
    per = {n: {k: _stats(n, k, ctx, isl_n) for k in seeds
               if all(_file(m, k).is_file() for m in n.split("@"))} for n in names}
    per = {n: v for n, v in per.items() if v}
    rows = {}
    for n, by_seed in per.items():
        st = [r["stats"] for r in by_seed.values()]
        metas = [r["meta"] for r in by_seed.values()]
        bio = sum(m["chains"] * m["duration_ms"] / 1000.0 for m in metas)
        pairs = sum(s["consecutive_pairs"] for s in st)
        cons = sum(s["confident_switches"] for s in st)
        skip = sum(s["confident_subsequence_switches"] for s in st)
        isl = _mean_se([s["isl"] for s in st])
        row = {"seeds": sorted(by_seed), "samples": int(sum(s["samples"] for s in st)),
               "confident_switches": int(cons), "confident_switches_per_1000": 1000 * cons / pairs,
               "skip_uncertain_switches": int(skip),
               "skip_uncertain_per_1000": 1000 * skip / pairs,
               "skip_uncertain_per_chain_s": skip / bio,
               "confident_fraction": float(np.mean([s["confident_fraction"] for s in st])),
               "classes_per_chain": float(np.mean([s["classes_visited_per_chain"] for s in st])),
               "classes_total": int(max(s["classes_visited_total"] for s in st)),
               "isl": isl[0], "isl_se": isl[1], "isl_by_seed": [s["isl"] for s in st],
               "mean_pixel": float(np.mean([s["mean_intensity"] for s in st])),
               "class_histogram_tv": float(np.mean([s["class_histogram_tv"] for s in st])),
               "wall_s": float(sum(m["wall_s"] for m in metas)), "meta": metas[0]}
        rows[n] = row
    for n, row in rows.items():
        c = CONSTANT_FOR.get(n)
        if c in rows:
            common = [k for k in row["seeds"] if k in rows[c]["seeds"]]
            d = [per[n][k]["stats"]["isl"] - per[c][k]["stats"]["isl"] for k in common]
            row["constant"] = c
            row["isl_minus_constant"], row["isl_minus_constant_se"] = _mean_se(d)
            # the typical seed and a bootstrap interval of the mean (10,000 resamples of seeds)
            boot = np.random.default_rng(0).choice(d, (10000, len(d))).mean(1)
            row["isl_minus_constant_median"] = float(np.median(d))
            row["isl_minus_constant_fraction_nonnegative"] = float(np.mean(np.array(d) >= 0))
            row["isl_minus_constant_ci95"] = np.percentile(boot, [2.5, 97.5]).tolist()
            cc = rows[c]["confident_switches_per_1000"]
            row["switch_ratio"] = row["confident_switches_per_1000"] / cc if cc else float("inf")
    print(f"ISL on {isl_n} samples per seed; seeds {seeds}")
    print("| run | samples | conf. switches /1000 consecutive (count) | x constant | "
          "skip-uncertain /1000 (count; per chain-s) | confident fraction | classes / chain "
          "(total) | ISL (± s.e.) | ISL − constant (paired ± s.e. [bootstrap 95 %]; median) | "
          "mean pixel |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, r in rows.items():
        ratio = f"{r['switch_ratio']:.1f}" if "switch_ratio" in r else ""
        diff = (f"{r['isl_minus_constant']:+.1f} ± {r['isl_minus_constant_se']:.1f} "
                f"[{r['isl_minus_constant_ci95'][0]:+.1f}, {r['isl_minus_constant_ci95'][1]:+.1f}]"
                f"; median {r['isl_minus_constant_median']:+.1f}"
                if "isl_minus_constant" in r else "")
        print(f"| {n} | {r['samples']} | {r['confident_switches_per_1000']:.2f} "
              f"({r['confident_switches']}) | {ratio} | {r['skip_uncertain_per_1000']:.1f} "
              f"({r['skip_uncertain_switches']}; {r['skip_uncertain_per_chain_s']:.2f}) | "
              f"{r['confident_fraction']:.2f} | {r['classes_per_chain']:.2f} "
              f"({r['classes_total']}) | {r['isl']:.1f} ± {r['isl_se']:.1f} | {diff} | "
              f"{r['mean_pixel']:.3f} |")
    return {"isl_samples": isl_n, "seeds": seeds, "chains": CHAINS, "duration_ms": DURATION_MS,
            "classifier": ctx["clf"].meta, "rows": rows}


def plot_grid(res: dict, path: str) -> None:
    """Item 4's heat maps over frequency x peak temperature from a ``table --seeds`` result:
    confident switches per 1,000 samples relative to constant noise of the same mean rate,
    paired ISL difference, mean pixel of the trough samples, skip-uncertain switches per
    chain-second relative to constant noise."""
    from lifsampling.plots import new_figure, save_figure

    rows = res["rows"]
    def t_peak(m):  # T at the peak relative to the trough (the mapping rate)
        return round(float(np.sqrt((m["mean_hz"] + m["amplitude_hz"])
                                   / (m["mean_hz"] - m["amplitude_hz"]))), 3)

    cell = {(r["meta"]["frequency_hz"], t_peak(r["meta"])): (n, r) for n, r in rows.items()
            if n.startswith("osc_") and n in CONSTANT_FOR}
    fr, tp = sorted({k[0] for k in cell}), sorted({k[1] for k in cell})

    def ratio(r, key):
        c = rows.get(r.get("constant"), {}).get(key)
        return r[key] / c if c else np.nan

    from matplotlib.colors import LogNorm

    panels = [
        (lambda r: ratio(r, "confident_switches_per_1000"),
         "confident switches per 1,000 samples, × constant noise (same mean rate)", True),
        (lambda r: r.get("isl_minus_constant", np.nan),
         "ISL − ISL(constant noise), nats (paired by seed)", False),
        (lambda r: r["mean_pixel"], "mean pixel of the trough samples (test images 0.13)",
         False),
        (lambda r: ratio(r, "skip_uncertain_per_chain_s"),
         "skip-uncertain switches per chain-second, × constant noise", True),
    ]
    fig, axes = new_figure(2, 2, figsize=(11, 7))
    for ax, (get, title, log) in zip(axes.flat, panels, strict=True):
        m = np.full((len(tp), len(fr)), np.nan)
        for (f, t), (_, r) in cell.items():
            m[tp.index(t), fr.index(f)] = get(r)
        im = ax.imshow(m, origin="lower", aspect="auto", cmap="viridis",
                       norm=LogNorm() if log else None)
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.3g}", ha="center", va="center",
                    fontsize=8, color="w")
        ax.set_xticks(range(len(fr)), [f"{f:g}" for f in fr])
        ax.set_yticks(range(len(tp)), [f"{t:g}" for t in tp])
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("peak temperature T (trough 3 kHz)")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax)
    ns = sorted({len(r["seeds"]) for _, r in cell.values()})
    seeds = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
    fig.suptitle(f"PCD MNIST RBM, {seeds} seeds x {res['chains']} chains x "
                 f"{res['duration_ms'] / 1000:g} s per cell (ISL: paired over common seeds)",
                 fontsize=10)
    save_figure(fig, path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["run", "table", "list", "plot"],
                    help="plot: names = a `table --seeds --out` JSON and the PNG to write")
    ap.add_argument("names", nargs="*")
    ap.add_argument("--isl-n", type=int, default=None)
    ap.add_argument("--seeds", type=int, nargs="*", default=None,
                    help="replicates (start images and noise seed); files <name>_s<seed>.npz")
    ap.add_argument("--out", default=None, help="table: also write the JSON here")
    ap.add_argument("--plot", default=None, help="table --seeds: item 4's heat maps (PNG)")
    a = ap.parse_args(argv)
    if a.what == "list":
        for n, c in CONDITIONS.items():
            print(n, c.get("rhythm", c.get("classical")), "STP" if c.get("stp") else "")
        return
    if a.what == "plot":
        plot_grid(json.loads(Path(a.names[0]).read_text()), a.names[1])
        return
    if a.what == "run":
        for n in a.names:
            if n not in CONDITIONS:
                sys.exit(f"unknown condition {n!r}; see `list`")
        for n in a.names:
            for k in a.seeds if a.seeds is not None else [None]:
                if not _file(n, k).is_file():
                    run(n, k)
        return
    if a.seeds is not None:
        res = table_seeds(a.names or list(CONDITIONS), a.seeds, a.isl_n or 1280)
        if a.plot:
            plot_grid(res, a.plot)
    else:
        res = table(a.names or list(CONDITIONS), a.isl_n)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
