"""Named calibration presets (``load_calibration``) and the layering of the calibration
modules: the artefact imports neither the engine nor the mapping, and no module of the
calibration/mapping group needs another one to be imported first."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from lifsampling.calibration import PRESETS, Calibration, load_calibration
from lifsampling.params import SBS_TUTORIAL_NEURON, SBS_TUTORIAL_NOISE

SRC = Path(resources.files("lifsampling"))

# (u0 mV, alpha mV, neuron): the values stated in docs/core.md and spiking_rbm's docstring;
# the neuron is the sbs tutorial one (params.py) with tau_m = 1 ms or 0.1 ms.
KNOWN = {
    "sbs-tutorial": (-50.60, 0.796, SBS_TUTORIAL_NEURON),
    "fast-membrane": (-50.08, 0.0740, replace(SBS_TUTORIAL_NEURON, tau_m_ms=0.1)),
}


def test_every_preset_is_known_here():
    assert set(PRESETS) == set(KNOWN)


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_preset_loads_its_neuron_and_fit(name):
    u0, alpha, neuron = KNOWN[name]
    cal = load_calibration(name)
    assert cal.u0_mV == pytest.approx(u0, abs=0.01)
    assert cal.alpha_mV == pytest.approx(alpha, rel=0.01)
    assert cal.neuron == neuron and cal.noise == SBS_TUTORIAL_NOISE
    # the preset is the shipped file of that name, read as a path too
    shipped = SRC / "data" / PRESETS[name][0]
    assert load_calibration(shipped) == cal == Calibration.load(shipped)


def test_a_path_loads_the_file(tmp_path, monkeypatch):
    cal = replace(load_calibration("sbs-tutorial"), u0_mV=-49.0, seed=123)
    path = tmp_path / "mine.json"
    cal.save(path)
    assert load_calibration(path) == cal
    assert load_calibration(str(path)) == cal
    # an existing file without suffix or folder is a path, not an unknown name
    monkeypatch.chdir(tmp_path)
    path.rename(tmp_path / "mine")
    assert load_calibration("mine") == cal


def test_unknown_name_lists_the_presets_and_missing_paths_say_not_found(tmp_path):
    with pytest.raises(ValueError, match="unknown calibration 'fast'") as exc:
        load_calibration("fast")
    assert all(name in str(exc.value) for name in PRESETS)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_calibration(str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_calibration("missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "lifsampling.calibration/1", "u0_mV": 1.0}))
    with pytest.raises(ValueError, match="not a valid calibration file"):
        load_calibration(bad)


def test_cli_helper_takes_presets_and_defaults():
    from lifsampling.cli._rbm import calibration as _calibration
    from lifsampling.cli.core import _load_calibration

    assert _load_calibration(None) == load_calibration("sbs-tutorial")
    assert _calibration(None) == load_calibration("fast-membrane")
    for name in PRESETS:
        assert _load_calibration(name) == _calibration(name) == load_calibration(name)


def _internal_imports(module: str) -> set[str]:
    """Top-level lifsampling modules/packages that the top-level module ``module`` imports
    anywhere (at the top or inside functions, so lazy imports count too)."""
    out = set()
    for node in ast.walk(ast.parse((SRC / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= ({node.module.split(".")[0]} if node.module
                    else {a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lifsampling."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names
                    if a.name.startswith("lifsampling.")}
    return out


def test_layering_of_the_calibration_modules():
    """artefact (calibration) <- mapping <- measurement (calibrate), corrections."""
    assert {"engine", "mapping", "calibration"} <= _internal_imports("calibrate")  # it sees them
    assert _internal_imports("calibration") <= {"io", "params"}
    assert not _internal_imports("mapping") & {"calibrate", "corrections"}
    assert "corrections" not in _internal_imports("calibrate")
    assert "calibrate" not in _internal_imports("corrections")


@pytest.mark.parametrize("module", ["calibration", "calibrate", "corrections", "mapping",
                                    "hcs", "spiking_rbm", "temperature"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    """An import cycle shows as an ImportError when one of its modules is imported first."""
    code = (f"import sys, lifsampling.{module}\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('lifsampling'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    if module == "calibration":
        loaded = set(r.stdout.split())
        assert not loaded & {"lifsampling.engine", "lifsampling.mapping",
                             "lifsampling.calibrate", "lifsampling.corrections"}, loaded
