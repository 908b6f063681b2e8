"""The PyNN export on NEST under MPI (``mpirun -np K``): every process returns the complete
result, and with the same number of virtual processes K = 1 and K = 2 give the same spikes.

The MPI runs need ``mpirun``, mpi4py and a NEST built with MPI in this interpreter
(docs/ecosystem.md, "Under MPI"); the PyPI nest-simulator wheel has none, so they skip there.
NEST is only imported in subprocesses (see tests/test_export.py on NEST and torch.compile)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest

from lifsampling.calibration import load_calibration
from lifsampling.experiments.small_bm import uniform_bm
from lifsampling.export import describe, run_pynn
from lifsampling.io import write_json
from lifsampling.mapping import bm_to_network

WORKER = """
import json, sys
import numpy as np
from mpi4py import MPI
import nest
from lifsampling.engine import Record
from lifsampling.export import run_pynn
from lifsampling.io import read_json

res = run_pynn(read_json(sys.argv[1], "description"), "nest", duration_ms=500.0, chains=4,
               seed=3, virtual_processes=2, record=Record(spikes=True))
spikes = np.stack([t.numpy() for t in res.spikes])
parts = MPI.COMM_WORLD.gather(spikes, root=0)
local = len(nest.GetNodes({"model": "iaf_cond_exp"}, local_only=True))
locals_ = MPI.COMM_WORLD.gather(local, root=0)
if MPI.COMM_WORLD.rank == 0:
    np.save(sys.argv[2], spikes)
    json.dump({"num_processes": nest.GetKernelStatus("num_processes"),
               "same_on_every_rank": all(np.array_equal(p, spikes) for p in parts),
               "local_neurons": locals_}, open(sys.argv[2] + ".json", "w"))
"""


def _mpi_nest() -> str | None:
    """Why the MPI runs cannot run here, or None."""
    if shutil.which("mpirun") is None:
        return "mpirun is not on the PATH"
    if find_spec("mpi4py") is None or find_spec("pyNN") is None or find_spec("nest") is None:
        return "mpi4py, PyNN or NEST is not installed"
    done = subprocess.run([sys.executable, "-c", "import nest; "
                           "print('MPI' if nest.build_info['have_mpi'] else 'no MPI')"],
                          capture_output=True, text=True)
    if done.returncode or not done.stdout.strip().endswith("MPI"):
        return f"NEST does not start ({done.stderr.strip()[-200:]})"
    if done.stdout.strip().endswith("no MPI"):
        return "this NEST is built without MPI (the PyPI wheel); see docs/ecosystem.md"
    return None


needs_mpi = pytest.mark.skipif(shutil.which("mpirun") is None or find_spec("mpi4py") is None,
                               reason="needs mpirun, mpi4py and a NEST built with MPI")


def test_virtual_processes_is_refused_when_not_positive():
    bm = uniform_bm(3, seed=0)
    net = bm_to_network(bm.W, bm.b, load_calibration("sbs-tutorial"))
    with pytest.raises(ValueError, match="virtual_processes"):
        run_pynn(net, "nest", duration_ms=10.0, virtual_processes=0)


@needs_mpi
def test_two_processes_give_the_one_process_spikes(tmp_path):
    reason = _mpi_nest()
    if reason:
        pytest.skip(reason)
    bm = uniform_bm(5, seed=0)
    write_json(tmp_path / "net.json",
               describe(bm_to_network(bm.W, bm.b, load_calibration("sbs-tutorial")), 0.1))
    (tmp_path / "worker.py").write_text(WORKER)
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    out = {}
    for k in (1, 2):
        dest = str(tmp_path / f"np{k}.npy")
        subprocess.run(["mpirun", *root, "--oversubscribe", "--bind-to", "none", "-np", str(k),
                        sys.executable, str(tmp_path / "worker.py"), str(tmp_path / "net.json"),
                        dest], check=True, capture_output=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        out[k] = np.load(dest), json.loads(open(dest + ".json").read())
    (s1, info1), (s2, info2) = out[1], out[2]
    assert (info1["num_processes"], info2["num_processes"]) == (1, 2)
    assert info2["same_on_every_rank"] and len(info2["local_neurons"]) == 2
    assert sum(info2["local_neurons"]) == 20 and min(info2["local_neurons"]) > 0
    assert s1.shape[1] > 300  # 4 chains x 5 neurons x 0.5 s at tens of Hz: hundreds of spikes
    np.testing.assert_array_equal(s1, s2)
