"""The U x tau_rec sweep over seeds: every cell is the mean of its seeds' rows with an interval
that brackets it, each seed's row is kept, and bad grids are refused."""

from __future__ import annotations

import numpy as np
import pytest

from lifsampling.boltzmann import RBM, random_rbm
from lifsampling.calibration import load_calibration
from lifsampling.comparison import evaluation_data
from lifsampling.experiments.stp_sweep import ROW_KEYS, STPSweepConfig, run_sweep


def test_sweep_cells_are_means_over_seeds(tmp_path):
    r0 = random_rbm(794, 12, seed=0, scale=0.05)
    rbm = RBM(r0.W, r0.b_v, r0.b_h - 1.0, n_labels=10)
    res = run_sweep(rbm, load_calibration("fast-membrane"),
                    STPSweepConfig(U_values=(0.2,), tau_values=(50.0, 200.0), n_samples=12,
                                   chains=2, pilot_ms=20.0, seeds=(3, 4, 5), device="cpu"),
                    data=evaluation_data("builtin", n_test=200), out_dir=tmp_path)
    assert len(res["grid"]) == 2 and len(res["per_seed"]) == 6
    for cell in res["grid"]:
        rows = [r for r in res["per_seed"] if r["tau_rec_ms"] == cell["tau_rec_ms"]]
        assert [r["seed"] for r in rows] == [3, 4, 5] and cell["seeds"] == 3
        for k in ("precision", "mean_pixel", "fd"):
            assert cell[k] == pytest.approx(np.mean([r[k] for r in rows]))
            lo, hi = cell[f"{k}_ci95"]
            assert lo <= cell[k] <= hi
        assert set(ROW_KEYS) <= set(cell)
    # seeds differ in their starts and noise: the rows are not copies of one another
    assert len({r["mean_pixel"] for r in res["per_seed"]}) == 6
    assert (tmp_path / "stp_sweep.png").is_file()
    for bad in ({"seeds": ()}, {"seeds": (1, 1)}, {"seeds": (-1,)}, {"U_values": (1.5,)}):
        with pytest.raises(ValueError):
            STPSweepConfig(**bad)
