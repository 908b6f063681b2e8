"""``lifsampling tempering``: one oscillating-background run of the spiking MNIST RBM against
constant noise of the same mean rate, Gibbs and AST (:func:`tempering_mnist.compare`), from a
self-validating frozen config (docs/tempering.md)."""

from __future__ import annotations

from dataclasses import dataclass

from . import _validate as check
from . import tempering_mnist as tm

#: The read-out trough of the default rhythm (Hz): the fast-membrane calibration's rate.
DEFAULT_TROUGH_HZ = 3000.0


@dataclass(frozen=True)
class TemperingConfig:
    """The rhythm nu(t) = mean + A sin(2 pi f t + pi/2): ``frequency_hz`` (> 0, a period of at
    least tau_ref), ``amplitude_hz`` (> 0, leaving a trough of at least
    ``tempering_mnist.MIN_TROUGH_HZ``) and ``mean_hz`` (> 0; None: 3000 Hz + A, so that the
    trough is at 3 kHz). ``duration_ms`` (> 0, at least one period) of biological time per chain
    of ``chains`` (>= 1); samples read where T(t) <= ``read_T`` (>= 1). ``compensate``: track
    the u0 drift in the leaks; ``baselines``: also constant noise, Gibbs and AST;
    ``init_from_data``: start from training images. ``calibration``: a shipped preset or a
    calibration JSON (None: the fast-membrane preset); ``temperature_map``: a u0/alpha vs rate
    map JSON (None: HCS theory anchored to the calibration). ``seed`` (>= 0), ``device``."""

    frequency_hz: float
    amplitude_hz: float
    mean_hz: float | None = None
    duration_ms: float = 5000.0
    chains: int = 4
    read_T: float = 1.02
    compensate: bool = True
    baselines: bool = True
    init_from_data: bool = True
    calibration: str | None = None
    temperature_map: str | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        f = check.number("frequency_hz", self.frequency_hz, above=0.0)
        a = check.number("amplitude_hz", self.amplitude_hz, above=0.0)
        if self.mean_hz is None:
            object.__setattr__(self, "mean_hz", DEFAULT_TROUGH_HZ + a)
        mean = check.number("mean_hz", self.mean_hz, above=0.0)
        if mean - a < tm.MIN_TROUGH_HZ:
            raise ValueError(
                f"amplitude_hz {a:g} leaves a trough rate of {mean - a:g} Hz for mean "
                f"{mean:g} Hz; the trough (where samples are read and the network is "
                f"calibrated) must be >= {tm.MIN_TROUGH_HZ:g} Hz, so use amplitude <= mean - "
                f"{tm.MIN_TROUGH_HZ:g} Hz")
        if 1000.0 / f < tm.TAU_REF_MS:
            raise ValueError(f"frequency_hz {f:g} has a period shorter than tau_ref = "
                             f"{tm.TAU_REF_MS:g} ms; use <= {1000 / tm.TAU_REF_MS:g} Hz")
        d = check.number("duration_ms", self.duration_ms, above=0.0)
        if d * f < 1000.0:
            raise ValueError(f"duration_ms {d:g} is shorter than one period ({1000 / f:g} ms)")
        check.whole("chains", self.chains, at_least=1)
        check.number("read_T", self.read_T, at_least=1.0)
        check.whole("seed", self.seed, at_least=0)
        check.device(self.device)

    @property
    def rhythm(self) -> tm.Rhythm:
        return tm.Rhythm(self.mean_hz, self.amplitude_hz, self.frequency_hz)


def load_calibration(config: TemperingConfig):
    """The base calibration: the named preset or file (None: fast-membrane)."""
    from ..calibration import load_calibration as load

    return load("fast-membrane" if config.calibration is None else config.calibration)


def temperature_map(config: TemperingConfig, base):
    """The u0/alpha vs rate map: the file ``config.temperature_map``, or HCS theory for the
    calibration's neuron over the rhythm's rates, anchored to the calibration at its rate."""
    from ..temperature import TemperatureMap, theory_temperature_map

    if config.temperature_map is not None:
        return TemperatureMap.load(config.temperature_map)
    rhythm = config.rhythm
    peak = rhythm.mean_hz + rhythm.amplitude_hz
    cal_rate = float(base.noise.rates_at(0.0)[0])
    rates = sorted({rhythm.trough_hz, rhythm.mean_hz, peak, 0.5 * (rhythm.trough_hz + peak),
                    cal_rate})
    tmap = theory_temperature_map(rates, reference_rate_hz=rhythm.trough_hz,
                                  neuron=base.neuron, noise=base.noise)
    return tmap.anchored(cal_rate, base.u0_mV, base.alpha_mV)


def run(rbm, base, tmap, config: TemperingConfig, *, progress=None) -> dict:
    """:func:`tempering_mnist.compare` with the config's fields; the oscillating run's raw
    samples stay under ``"_oscillation_run"``."""
    return tm.compare(rbm, tmap, base, config.rhythm, duration_ms=config.duration_ms,
                      chains=config.chains, seed=config.seed, read_T=config.read_T,
                      compensate=config.compensate, baselines=config.baselines,
                      init_from_data=config.init_from_data, device=config.device,
                      progress=progress)


def plot_grid(oscillation_run: dict, config: TemperingConfig, tmap, path) -> None:
    """A sample grid over cycles of the first chain (PNG)."""
    rhythm = config.rhythm
    tm.plot_sample_grid(oscillation_run["all_visible"][0], oscillation_run["all_times_ms"],
                        rhythm, path, tmap=tmap.with_reference(rhythm.trough_hz))


__all__ = ["TemperingConfig", "load_calibration", "plot_grid", "run", "temperature_map"]
