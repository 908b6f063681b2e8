"""Shared fixtures and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

SHARED = Path(__file__).resolve().parents[2] / "shared"
# NEST 3.10 reference (membrane trace + tsodyks2 jumps), a byte-identical 38 kB copy of
# ../shared/data/nest_reference/nest_reference.json shipped with the tests so that they run on
# a fresh clone; provenance in fixtures/nest_reference.md.
NEST_REFERENCE = Path(__file__).resolve().parent / "fixtures" / "nest_reference.json"
MNIST_DIR = SHARED / "data" / "mnist"


@pytest.fixture(scope="session")
def nest_reference() -> dict:
    import json

    return json.loads(NEST_REFERENCE.read_text())
