"""Activation slope alpha (effective temperature) against the balanced
background rate, measured against the free-membrane and HCS predictions.

Writes a JSON with the measured and predicted maps and a two-panel figure: alpha(nu) on log-log
axes with the sqrt(nu) line, and T(nu) = alpha(nu)/alpha(nu0) with the drift of u0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..params import NeuronParams, NoiseParams
from ..plots import new_figure, save_figure
from ..temperature import TemperatureMap, measure_temperature_map, theory_temperature_map
from . import _validate as check

DEFAULT_RATES_HZ = (500.0, 1000.0, 2000.0, 3000.0, 5000.0, 8000.0, 12000.0, 20000.0)


@dataclass(frozen=True)
class TemperatureMapConfig:
    """The map's balanced background ``rates_hz`` (Hz, exc = inh; at least two, each > 0),
    ``reference_rate_hz`` (Hz, > 0: temperature 1), and per rate a calibration of ``points``
    leak potentials (>= 5), ``duration_ms`` (ms, > 0) per point and chain, ``chains`` (>= 1),
    ``seed``. Validated on construction (ValueError naming the field)."""

    rates_hz: tuple[float, ...] = DEFAULT_RATES_HZ
    reference_rate_hz: float = 3000.0
    points: int = 25
    duration_ms: float = 10_000.0
    chains: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        rates = self.rates_hz
        if isinstance(rates, (str, bytes)) or not hasattr(rates, "__iter__"):
            raise ValueError(f"rates_hz must be a list of rates (Hz), got {rates!r}")
        rates = tuple(check.number("rates_hz", r, above=0.0) for r in rates)
        if len(rates) < 2:
            raise ValueError(f"rates_hz needs at least two rates > 0 Hz, got {list(rates)}")
        set_(self, "rates_hz", rates)
        set_(self, "reference_rate_hz", check.number("reference_rate_hz",
                                                     self.reference_rate_hz, above=0.0))
        set_(self, "points", check.whole("points", self.points, at_least=5))
        set_(self, "duration_ms", check.number("duration_ms", self.duration_ms, above=0.0))
        set_(self, "chains", check.whole("chains", self.chains, at_least=1))
        set_(self, "seed", check.whole("seed", self.seed, at_least=0))


def run(config: TemperatureMapConfig | None = None, *, progress=None, **params) -> dict:
    """Measure the map of ``config`` (or ``TemperatureMapConfig(**params)``) and the two
    predictions on the same grid."""
    cfg = check.configured(TemperatureMapConfig, config, params)
    rates_hz, reference_rate_hz, points = list(cfg.rates_hz), cfg.reference_rate_hz, cfg.points
    duration_ms, chains, seed = cfg.duration_ms, cfg.chains, cfg.seed
    neuron, noise = NeuronParams(), NoiseParams()
    meas = measure_temperature_map(rates_hz, reference_rate_hz=reference_rate_hz, neuron=neuron,
                                   noise=noise, points=points, duration_ms=duration_ms,
                                   chains=chains, seed=seed, progress=progress)
    hcs = theory_temperature_map(rates_hz, reference_rate_hz=reference_rate_hz, source="hcs")
    free = theory_temperature_map(rates_hz, reference_rate_hz=reference_rate_hz,
                                  source="free_membrane")
    r = np.asarray(meas.rates_hz)
    rows = []
    for i, nu in enumerate(r):
        rows.append({
            "rate_hz": float(nu), "u0_mV": meas.u0_mV[i], "alpha_mV": meas.alpha_mV[i],
            "T_measured": float(meas.temperature(nu)),
            "T_sqrt": float(np.sqrt(nu / reference_rate_hz)),
            "T_free_membrane": float(free.temperature(nu)), "T_hcs": float(hcs.temperature(nu)),
            "alpha_hcs_mV": hcs.alpha_mV[i], "alpha_free_mV": free.alpha_mV[i],
            "u0_hcs_mV": hcs.u0_mV[i], "beta_weights": float(meas.beta_weights(nu)[0]),
        })
    return {"parameters": {"rates_hz": list(map(float, r)), "reference_rate_hz":
                           reference_rate_hz, "points": points, "duration_ms": duration_ms,
                           "chains": chains, "seed": seed, "neuron": asdict(neuron),
                           "noise_weights_uS": [noise.w_exc_uS, noise.w_inh_uS]},
            "measured_map": meas.to_dict(), "hcs_map": hcs.to_dict(), "table": rows}


def plot(result: dict, path) -> None:
    """alpha(nu) (log-log) and T(nu), u0(nu) panels."""
    rows = result["table"]
    r = np.array([x["rate_hz"] for x in rows]) / 1000
    fig, (a1, a2) = new_figure(1, 2, figsize=(9, 3.6))
    a1.loglog(r, [x["alpha_mV"] for x in rows], "o", label="measured (logistic fit)")
    a1.loglog(r, [x["alpha_hcs_mV"] for x in rows], "-", label="HCS theory (hcs.py)")
    a1.loglog(r, [x["alpha_free_mV"] for x in rows], "--", label=r"free membrane $\sqrt{2\pi}/4\,"
              r"\sigma_u g_{tot}/g_l$")
    ref = result["parameters"]["reference_rate_hz"] / 1000
    a_ref = float(TemperatureMap(**_map_args(result["measured_map"])).alpha(ref * 1000))
    a1.loglog(r, a_ref * np.sqrt(r / ref), ":", color="k", label=r"$\propto\sqrt{\nu}$")
    a1.set_xlabel(r"balanced background rate $\nu$ (kHz, exc = inh)")
    a1.set_ylabel(r"activation slope $\alpha$ (mV, $E_l$ units)")
    a1.legend(frameon=False, fontsize=7)
    a2.plot(r, [x["T_measured"] for x in rows], "o", label="T measured")
    a2.plot(r, [x["T_hcs"] for x in rows], "-", label="T HCS theory")
    a2.plot(r, [x["T_sqrt"] for x in rows], ":", color="k", label=r"$\sqrt{\nu/\nu_0}$")
    a2.set_xscale("log")
    a2.set_xlabel(r"$\nu$ (kHz)")
    a2.set_ylabel(rf"$T=\alpha(\nu)/\alpha(\nu_0)$, $\nu_0$ = {ref:g} kHz")
    ax3 = a2.twinx()
    ax3.plot(r, [x["u0_mV"] for x in rows], "s", color="C3", ms=3, label="u0 measured")
    ax3.plot(r, [x["u0_hcs_mV"] for x in rows], "-", color="C3", lw=0.8, label="u0 HCS")
    ax3.set_ylabel("u0 (mV)", color="C3")
    a2.legend(frameon=False, fontsize=7, loc="upper left")
    ax3.legend(frameon=False, fontsize=7, loc="lower right")
    save_figure(fig, path)


def _map_args(d: dict) -> dict:
    return {"rates_hz": tuple(d["rates_hz"]), "u0_mV": tuple(d["u0_mV"]),
            "alpha_mV": tuple(d["alpha_mV"]), "reference_rate_hz": d["reference_rate_hz"],
            "neuron": NeuronParams(**d["neuron"]), "noise": NoiseParams(**d["noise"]),
            "source": d["source"]}
