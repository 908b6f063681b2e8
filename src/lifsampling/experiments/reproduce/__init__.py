"""``lifsampling reproduce CLAIM``: one command per headline figure of the docs.

A :class:`Claim` names a documented figure (``reference``, in ``unit``, from ``doc``) and a
``run(config) -> dict`` that recomputes it. :func:`run_claim` gives every run its own directory
``<out_dir>/<claim>-<UTC YYYYmmddTHHMMSSZ>/`` holding ``config.json`` (written first: all
parameters, seeds, versions), the figures, and ``results.json`` (per-seed raw results and the
summary, written last; a run that fails or is interrupted writes ``error.json`` instead).
Files go through :mod:`lifsampling.io` (atomic).

Contract of ``Claim.run(config)``: it returns a dict with

- ``figure``: the claim's number (float);
- ``per_seed``: a list of dicts, one per independent seed, each with ``seed`` and ``value`` (that
  seed's figure) plus its raw results; empty for claims without seeds;
- optionally ``extras`` (dict, merged into the summary) and ``raw`` (anything else worth keeping,
  stored in ``results.json`` only).

``Claim.parameters(config)`` returns every parameter of the run (for ``config.json``, written
before the run starts); claims call the same function inside ``run``. With seeds, the figure is
normally the mean over seeds and ``ci95`` the bootstrap 95 % interval of that mean
(:func:`mean_ci95`).

A run can change some of a claim's parameters (``ClaimConfig.overrides``; what ``lifsampling
sweep`` varies) and run given seeds (``ClaimConfig.seed_values``). A claim takes overrides by
ending its parameters function with ``return config.tuned(params, tunable=(...))``; an override a
claim does not take is refused by :func:`run_claim` before anything is written.

Claims live in topic modules listed in ``_CLAIM_MODULES``; each calls :func:`register` at import.
A listed module that is not there (yet) is skipped, so the registry works while topics are added.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

# Topic modules (in this package) whose import registers their claims.
_CLAIM_MODULES: tuple[str, ...] = ("core", "classical", "calcium", "throughput", "sampling")

_REGISTRY: dict[str, Claim] = {}
_LOADED = False


def default_runs_dir() -> Path:
    """``<cache>/runs``: nothing goes into the working directory unless asked."""
    from ...datasets import cache_dir

    return cache_dir() / "runs"


@dataclass(frozen=True)
class ClaimConfig:
    """How to run a claim.

    ``quick``: the scaled-down version (built-in data, seconds); ``seeds``: number of independent
    seeds (None: the claim's default, >= 10 in the full run where seeds apply); ``out_dir``: where
    the run directory is created (default ``<cache>/runs``, never the working directory);
    ``device``: auto, cpu, cuda or cuda:k; ``progress``: show progress bars. ``run_dir`` is set
    by :func:`run_claim` (the directory of this run).
    ``seed_values``: the exact seeds to run (instead of ``seeds`` counted from the claim's first
    seed); ``overrides``: claim parameters to change, by name (JSON values; see :meth:`tuned`).
    """

    quick: bool = False
    seeds: int | None = None
    out_dir: Path = field(default_factory=lambda: default_runs_dir())
    device: str = "auto"
    progress: bool = False
    run_dir: Path | None = None
    seed_values: tuple[int, ...] | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.quick, bool):
            raise ValueError(f"quick must be True or False, got {self.quick!r}")
        if self.seeds is not None:
            if isinstance(self.seeds, bool) or not isinstance(self.seeds, (int, np.integer)):
                raise ValueError(f"seeds must be a whole number >= 1, got {self.seeds!r}")
            if self.seeds < 1:
                raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if not isinstance(self.out_dir, (str, os.PathLike)) or str(self.out_dir) == "":
            raise ValueError(f"out_dir must be a directory path, got {self.out_dir!r}")
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.run_dir is not None:
            object.__setattr__(self, "run_dir", Path(self.run_dir))
        dev = self.device
        if not isinstance(dev, str) or not (dev in ("auto", "cpu", "cuda")
                                            or (dev.startswith("cuda:") and dev[5:].isdigit())):
            raise ValueError(f"unknown device {dev!r}; use auto, cpu, cuda or cuda:k")
        if self.seed_values is not None:
            vals = self.seed_values
            if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence) or not vals:
                raise ValueError(f"seed_values must be a non-empty list of seeds, got {vals!r}")
            for v in vals:
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                    raise ValueError(f"a seed must be a whole number >= 0, got {v!r}")
            if len(set(vals)) != len(vals):
                raise ValueError(f"seed_values repeat a seed: {list(vals)}")
            if self.seeds is not None:
                raise ValueError("give seeds (a count) or seed_values (the seeds), not both")
            object.__setattr__(self, "seed_values", tuple(int(v) for v in vals))
        if not isinstance(self.overrides, Mapping):
            raise ValueError(f"overrides must be a mapping of parameter names to values, got "
                             f"{self.overrides!r}")
        for key in self.overrides:
            if not isinstance(key, str) or not key:
                raise ValueError(f"an override's name must be a non-empty string, got {key!r}")
        object.__setattr__(self, "overrides", dict(self.overrides))

    def seed_list(self, full: int, quick: int, start: int = 0) -> list[int]:
        """Seeds ``start, start+1, ...``: ``self.seeds`` of them, else ``quick``/``full``;
        ``self.seed_values`` where given."""
        if self.seed_values is not None:
            return list(self.seed_values)
        n = self.seeds if self.seeds is not None else (quick if self.quick else full)
        return list(range(start, start + int(n)))

    def tuned(self, params: dict, tunable: Sequence[str]) -> dict:
        """``params`` with ``self.overrides`` applied; each override must name one of
        ``tunable`` and have its default's type (an int for an int, a number for a float, a
        positive number where the default is positive). ValueError otherwise."""
        out = dict(params)
        for key, value in self.overrides.items():
            if key not in tunable:
                raise ValueError(f"parameter {key!r} cannot be set; settable: "
                                 f"{', '.join(tunable) or 'none'}")
            out[key] = _coerce(key, out[key], value)
        return out

    def figure_path(self, name: str) -> Path | None:
        """Where a figure of this run goes (None outside :func:`run_claim`)."""
        return None if self.run_dir is None else self.run_dir / name


@dataclass(frozen=True)
class Claim:
    """One headline figure: what is claimed, where it is documented, how to recompute it."""

    name: str
    summary: str
    doc: str
    reference: float | None
    unit: str
    run: Callable[[ClaimConfig], dict]
    parameters: Callable[[ClaimConfig], dict] = field(default=lambda config: {})
    seeded: bool = True  # independent seeds apply (ci95 over them)

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"claim name must be one word, got {self.name!r}")


def _coerce(key: str, default: Any, value: Any) -> Any:
    """``value`` as the type of ``default`` (ValueError naming ``key`` when it is not)."""
    import math

    def bad(what: str) -> ValueError:
        return ValueError(f"parameter {key!r} must be {what}, got {value!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, (int, float, np.integer, np.floating)):
        whole = isinstance(default, (int, np.integer))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a whole number" if whole else "a number")
        if whole and not (isinstance(value, int) or float(value).is_integer()):
            raise bad("a whole number")
        if not math.isfinite(value):
            raise bad("finite")
        if default > 0 and value <= 0:
            raise bad("> 0")
        return int(value) if whole else float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, list):
            raise bad("a list")
        return value
    raise ValueError(f"parameter {key!r} cannot be set")


def register(claim: Claim) -> Claim:
    """Add a claim to the registry (a name may be registered once)."""
    if claim.name in _REGISTRY and _REGISTRY[claim.name] is not claim:
        raise ValueError(f"claim {claim.name!r} is registered twice")
    _REGISTRY[claim.name] = claim
    return claim


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    for mod in _CLAIM_MODULES:
        full = f"{__name__}.{mod}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:  # a real missing dependency inside the module: surface it
                raise
    _LOADED = True


def claims() -> dict[str, Claim]:
    """All registered claims by name (registration order)."""
    _load()
    return dict(_REGISTRY)


def get_claim(name: str) -> Claim:
    all_ = claims()
    if name not in all_:
        raise ValueError(f"unknown claim {name!r}; choose one of {', '.join(all_)}")
    return all_[name]


# --------------------------------------------------------------------------- statistics
def mean_ci95(values: Sequence[float], seed: int = 0) -> tuple[float, list[float] | None]:
    """Mean of ``values`` and the bootstrap 95 % interval of the mean (BCa, 10,000 resamples,
    percentile where BCa is degenerate; :func:`lifsampling.comparison.mean_ci95`). Fewer than 3
    values: (mean, None)."""
    from ...comparison import mean_ci95 as bootstrap_ci

    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("mean_ci95 needs a non-empty 1-d list of values")
    if np.isnan(x).any():
        return float(x.mean()), None
    return bootstrap_ci(x, seed, methods=("BCa", "percentile"))


# --------------------------------------------------------------------------- running
def check_out_dir(out_dir: Path) -> Path:
    """``out_dir`` exists (or can be created) as a writable directory; ValueError otherwise.
    Creates nothing (:func:`lifsampling.rundir.check_root`)."""
    from ...rundir import check_root

    return check_root(out_dir, what="--out")


def check_applied(claim: Claim, config: ClaimConfig, params: dict) -> None:
    """ValueError unless ``params`` (``claim.parameters(config)``) took every override and the
    given seeds: a claim that does not take a parameter must not run as if it had."""
    for key, value in config.overrides.items():
        if key not in params or params[key] != value:
            raise ValueError(f"claim {claim.name} does not take parameter {key!r}")
    if config.seed_values is not None and not claim.seeded:
        raise ValueError(f"claim {claim.name} has no seeds; leave the seeds out")


def run_claim(name: str, config: ClaimConfig) -> dict:
    """Run claim ``name``; write ``config.json`` and ``results.json`` in a new run directory
    and return the summary (``claim``, ``figure``, ``unit``, ``ci95``, ``seeds``, ``quick``,
    ``reference``, ``run_dir``, the claim's extras, ``wall_s``)."""
    from ...rundir import RunDirectory

    claim = get_claim(name)
    if not isinstance(config, ClaimConfig):
        raise ValueError("config must be a ClaimConfig")
    out_dir = check_out_dir(config.out_dir)
    params = claim.parameters(config)  # before anything is written: bad parameters write nothing
    check_applied(claim, config, params)
    run = RunDirectory.create(out_dir, claim.name, {
        "claim": claim.name, "summary": claim.summary, "doc": claim.doc,
        "reference": claim.reference, "unit": claim.unit, "quick": config.quick,
        "seeds_requested": config.seeds, "seed_values": config.seed_values,
        "overrides": config.overrides, "device": config.device, "parameters": params,
    })
    run_dir = run.path
    cfg = replace(config, run_dir=run_dir)
    t0 = time.perf_counter()
    try:
        out = claim.run(cfg)
    except BaseException as exc:  # a run that did not finish says so (no results.json)
        run.failed(exc, time.perf_counter() - t0)
        raise
    wall = time.perf_counter() - t0
    if "figure" not in out:
        raise RuntimeError(f"claim {claim.name} returned no figure")
    per_seed = list(out.get("per_seed", []))
    seeds = [int(p["seed"]) for p in per_seed]
    ci95 = None
    if claim.seeded and per_seed:
        _, ci95 = mean_ci95([p["value"] for p in per_seed])
    summary = {"claim": claim.name, "figure": float(out["figure"]), "unit": claim.unit,
               "ci95": ci95, "seeds": seeds, "quick": config.quick,
               "reference": claim.reference, "doc": claim.doc,
               "run_dir": str(run_dir), **out.get("extras", {}), "wall_s": round(wall, 2)}
    run.finish({"summary": summary, "per_seed": per_seed, "raw": out.get("raw", {}),
                "parameters": params})
    return summary


__all__ = ["Claim", "ClaimConfig", "check_applied", "check_out_dir", "claims", "default_runs_dir",
           "get_claim",
           "mean_ci95", "register", "run_claim"]
