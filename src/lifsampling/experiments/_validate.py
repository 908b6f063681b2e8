"""Checks shared by the experiments' config dataclasses: each raises ValueError with a message
that starts with the field's name and says what is allowed (the CLI swaps the field's name for
its option's)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def number(name: str, value: Any, *, above: float | None = None, at_least: float | None = None,
           at_most: float | None = None) -> float:
    """``value`` as a finite float, ``> above``, ``>= at_least`` and ``<= at_most`` where
    given."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if above is not None and at_most is not None and not above < v <= at_most:
        raise ValueError(f"{name} must be in ({above:g}, {at_most:g}], got {v:g}")
    if above is not None and not v > above:
        raise ValueError(f"{name} must be > {above:g}, got {v:g}")
    if at_least is not None and not v >= at_least:
        raise ValueError(f"{name} must be >= {at_least:g}, got {v:g}")
    if at_most is not None and not v <= at_most:
        raise ValueError(f"{name} must be <= {at_most:g}, got {v:g}")
    return v


def whole(name: str, value: Any, *, at_least: int | None = None) -> int:
    """``value`` as an int (no bool, no fraction), ``>= at_least`` where given."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if at_least is not None and value < at_least:
        raise ValueError(f"{name} must be >= {at_least}, got {value}")
    return int(value)


def seeds(name: str, values: Iterable[Any]) -> tuple[int, ...]:
    """A non-empty tuple of distinct whole numbers >= 0."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a list of seeds, got {values!r}")
    out = tuple(values)
    if not out:
        raise ValueError(f"{name} is empty: give at least one seed")
    for v in out:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be whole numbers >= 0, got {v!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} repeat a seed: {list(out)}")
    return tuple(int(v) for v in out)


def choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value``, one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        what = " or ".join(allowed) if len(allowed) < 3 else "one of " + ", ".join(allowed)
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def device(value: Any, name: str = "device") -> str:
    """auto, cpu, cuda or cuda:k (availability is checked where the device is used)."""
    if not isinstance(value, str) or not (value in ("auto", "cpu", "cuda") or (
            value.startswith("cuda:") and value[5:].isdigit())):
        raise ValueError(f"{name} must be auto, cpu, cuda or cuda:k, got {value!r}")
    return value


def configured(cls, config, params: dict):
    """``config``, or ``cls(**params)`` when it is None (keyword parameters of the run functions;
    TypeError when both are given)."""
    if config is None:
        return cls(**params)
    if params:
        raise TypeError(f"give a {cls.__name__} or its fields as keywords, not both "
                        f"(got {', '.join(params)})")
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    return config
