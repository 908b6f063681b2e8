"""Exact fidelity of the spiking MNIST RBM (``lifsampling fidelity``, docs/fidelity.md).

The clamped conditionals of the spiking network on test images against the RBM's
(:func:`lifsampling.fidelity.measure_fidelity`), optionally after fitting the per-layer
correction on pilot runs with training images (:func:`lifsampling.fidelity.fit_corrections`),
in which case the uncorrected network's figures are reported beside the corrected one's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boltzmann import RBM
from ..calibration import Calibration
from ..fidelity import (
    DEFAULT_PHASES,
    LayerCorrection,
    fit_corrections,
    load_correction,
    measure_fidelity,
)
from . import _validate as check


@dataclass(frozen=True)
class FidelityConfig:
    """The first ``images`` (>= 2) test images of ``data`` (auto, builtin, mnist or a folder),
    each clamped in its own chain and read out for ``duration_ms`` (ms, > 0) after
    ``burn_in_ms`` (ms, >= 0), with ``seed`` on ``device``, as ``phases`` (>= 2) independent
    runs per state that share the duration; ``stagger``: clamped neurons start at random
    phases, drawn anew for every run; ``folded``: also the folded-leak variant. ``fit``: first
    fit the per-layer correction on ``pilot_images`` (>= 2) training images, ``iterations``
    (>= 1) pilot runs of ``pilot_duration_ms`` (ms, > 0) each; ``correction_file``: apply this
    correction instead (not with ``fit``). Validated on construction (ValueError naming the
    field)."""

    data: str = "auto"
    images: int = 200
    duration_ms: float = 1000.0
    burn_in_ms: float = 50.0
    seed: int = 0
    device: str = "auto"
    stagger: bool = True
    phases: int = DEFAULT_PHASES
    folded: bool = True
    fit: bool = False
    pilot_images: int = 200
    pilot_duration_ms: float = 400.0
    iterations: int = 3
    correction_file: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.data, str) or not self.data:
            raise ValueError(f"data must be auto, builtin, mnist or a folder, got {self.data!r}")
        set_(self, "images", check.whole("images", self.images, at_least=2))
        set_(self, "duration_ms", check.number("duration_ms", self.duration_ms, above=0.0))
        set_(self, "burn_in_ms", check.number("burn_in_ms", self.burn_in_ms, at_least=0.0))
        set_(self, "seed", check.whole("seed", self.seed, at_least=0))
        set_(self, "phases", check.whole("phases", self.phases, at_least=2))
        check.device(self.device)
        for name in ("stagger", "folded", "fit"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        set_(self, "pilot_images", check.whole("pilot_images", self.pilot_images, at_least=2))
        set_(self, "pilot_duration_ms", check.number("pilot_duration_ms",
                                                     self.pilot_duration_ms, above=0.0))
        set_(self, "iterations", check.whole("iterations", self.iterations, at_least=1))
        if self.correction_file is not None:
            set_(self, "correction_file", str(self.correction_file))
            if self.fit:
                raise ValueError("correction_file and fit exclude each other (a correction is "
                                 "applied, or fitted)")


def run_fidelity(rbm: RBM, calibration: Calibration, config: FidelityConfig | None = None, *,
                 correction: LayerCorrection | None = None,
                 **params) -> tuple[dict, LayerCorrection | None]:
    """The fidelity report of ``config`` (or ``FidelityConfig(**params)``) as a dict
    (:meth:`FidelityReport.to_dict`, plus ``uncorrected`` and ``fit`` with ``fit``,
    ``data_source`` and ``correction``), and the correction applied (fitted, given, read from
    ``correction_file``, or None)."""
    from ..datasets import binarize, load_mnist

    cfg = check.configured(FidelityConfig, config, params)
    if correction is None and cfg.correction_file is not None:
        correction = load_correction(cfg.correction_file)
    if correction is not None and cfg.fit:
        raise ValueError("a correction and fit exclude each other")
    ds = load_mnist(cfg.data, download=False)
    n = min(cfg.images, len(ds.y_test))
    x, y = binarize(ds.x_test[:n]), ds.y_test[:n]
    kw = dict(duration_ms=cfg.duration_ms, burn_in_ms=cfg.burn_in_ms, seed=cfg.seed,
              device=cfg.device, stagger=cfg.stagger, phases=cfg.phases)
    res: dict = {}
    if cfg.fit:
        m = min(cfg.pilot_images, len(ds.y_train))
        before = measure_fidelity(rbm, calibration, x, y, folded=cfg.folded, **kw)
        correction, history = fit_corrections(
            rbm, calibration, binarize(ds.x_train[:m]), ds.y_train[:m],
            iterations=cfg.iterations, duration_ms=cfg.pilot_duration_ms,
            burn_in_ms=cfg.burn_in_ms, seed=cfg.seed + 1000, device=cfg.device,
            stagger=cfg.stagger, phases=cfg.phases)
        res["uncorrected"] = before.summary()
        res["fit"] = {"pilot_images": m, "pilot_duration_ms": cfg.pilot_duration_ms,
                      "iterations": cfg.iterations, "history": history}
    rep = measure_fidelity(rbm, calibration, x, y, correction=correction,
                           folded=cfg.folded and not cfg.fit, **kw)
    res = {**rep.to_dict(), **res, "data_source": ds.provenance.get("source"),
           "correction": None if correction is None else correction.to_dict()}
    if cfg.fit and cfg.folded:  # the folded variant has no synapses: the correction leaves it
        res.update({k: v for k, v in res["uncorrected"].items() if k.startswith("folded_")})
    return res, correction
