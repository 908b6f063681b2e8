"""``lifsampling calibrate``: the activation function p(z=1) of a neuron preset under its
background, measured against the leak potential and fitted by a logistic (and optionally the
excitatory/inhibitory coupling scales), from a self-validating frozen config (docs/core.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import _validate as check


@dataclass(frozen=True)
class CalibrateConfig:
    """``preset``: neuron and background preset (a key of ``params.NEURON_PRESETS``: sbs or
    leng2018); ``rate_hz``: the balanced background rate (Hz, exc = inh, >= 0; None: the
    preset's); ``points`` (>= 5) leak potentials from ``low_mV`` to ``high_mV`` (mV, both or
    neither, low < high; None: found automatically), each simulated for ``chains`` (>= 1) x
    ``duration_ms`` (ms, > 0) of biological time; ``couplings``: also measure the weight scales;
    ``seed`` (>= 0), ``device``."""

    preset: str = "sbs"
    rate_hz: float | None = None
    points: int = 36
    duration_ms: float = 10_000.0
    chains: int = 4
    low_mV: float | None = None
    high_mV: float | None = None
    couplings: bool = False
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        from ..params import NEURON_PRESETS

        if self.preset not in NEURON_PRESETS:
            raise ValueError(f"preset must be one of {', '.join(NEURON_PRESETS)}, got "
                             f"{self.preset!r}")
        if self.rate_hz is not None:
            check.number("rate_hz", self.rate_hz, at_least=0.0)
        check.whole("points", self.points, at_least=5)
        check.number("duration_ms", self.duration_ms, above=0.0)
        check.whole("chains", self.chains, at_least=1)
        if (self.low_mV is None) != (self.high_mV is None):
            raise ValueError("low_mV and high_mV: give both or neither")
        if self.low_mV is not None:
            lo = check.number("low_mV", self.low_mV)
            hi = check.number("high_mV", self.high_mV)
            if not lo < hi:
                raise ValueError(f"low_mV must be below high_mV: empty leak-potential range "
                                 f"[{lo:g}, {hi:g}] mV")
        check.whole("seed", self.seed, at_least=0)
        check.device(self.device)

    @property
    def neuron(self):
        from ..params import NEURON_PRESETS

        return NEURON_PRESETS[self.preset]

    @property
    def noise(self):
        from ..params import NOISE_PRESETS

        noise = NOISE_PRESETS[self.preset]
        if self.rate_hz is None:
            return noise
        return replace(noise, rate_exc_hz=self.rate_hz, rate_inh_hz=self.rate_hz)

    @property
    def e_leak_range_mV(self) -> tuple[float, float] | None:
        return None if self.low_mV is None else (self.low_mV, self.high_mV)

    def describe(self) -> dict:
        """The config with its resolved neuron and background (for a run's config.json)."""
        from dataclasses import asdict

        return {**asdict(self), "neuron": self.neuron, "noise": self.noise,
                "e_leak_range_mV": self.e_leak_range_mV}


def run(config: CalibrateConfig):
    """The measured :class:`lifsampling.calibration.Calibration` (with coupling scales when
    ``config.couplings``)."""
    from ..calibrate import calibrate, calibrate_couplings

    cal = calibrate(config.neuron, config.noise, e_leak_range_mV=config.e_leak_range_mV,
                    points=config.points, duration_ms=config.duration_ms, chains=config.chains,
                    seed=config.seed, device=config.device)
    if config.couplings:
        cal = calibrate_couplings(cal, seed=config.seed + 1, device=config.device)
    return cal


__all__ = ["CalibrateConfig", "run"]
