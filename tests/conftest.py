"""Shared fixtures and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

SHARED = Path(__file__).resolve().parents[2] / "shared"
NEST_REFERENCE = SHARED / "data" / "nest_reference" / "nest_reference.json"
MNIST_DIR = SHARED / "data" / "mnist"


@pytest.fixture(scope="session")
def nest_reference() -> dict:
    import json

    if not NEST_REFERENCE.is_file():
        pytest.skip("NEST reference data (../shared/data/nest_reference) not available")
    return json.loads(NEST_REFERENCE.read_text())
