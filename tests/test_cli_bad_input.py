"""A sweep of bad inputs across the commands: every one is refused with exactly one
``error: ...`` line and exit status 2, before any work, and writes no file."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from lifsampling.cli import main


@pytest.fixture()
def place(tmp_path):
    (tmp_path / "afile").write_text("x")
    np.savez(tmp_path / "listhdr.npz", W=np.zeros((3, 2)), b_v=np.zeros(3), b_h=np.zeros(2),
             header=np.array(json.dumps([1, 2])))
    (tmp_path / "adir").mkdir()
    from importlib import resources

    cal = json.loads((resources.files("lifsampling") / "data" / "calibration_sbs.json")
                     .read_text())
    cal["p_on"] = cal["p_on"][:-1]
    (tmp_path / "badcal.json").write_text(json.dumps(cal))
    return tmp_path


CASES = [
    ("sample-bm --duration-ms inf", "finite"),
    ("sample-bm --duration-ms nan", "finite"),
    ("sample-bm --units 0", "--units"),
    ("sample-bm --correction magic", "--correction"),
    ("sample-bm --plot {d}/adir", "directory"),
    ("evaluate {d}/listhdr.npz", "JSON object"),
    ("evaluate /dev/null", "not a regular file"),
    ("evaluate {d}/adir", "not a regular file"),
    ("evaluate {d}/missing.npz", "not found"),
    ("calibrate --out {d}/adir", "directory"),
    ("calibrate --out {d}/afile/x.json", "not a folder"),
    ("calibrate --out {d}/c.json --plot {d}/afile/p.png", "not a folder"),
    ("calibrate --points 2", "--points"),
    ("sample {d}/listhdr.npz --out {d}/afile/s.npz", "not a folder"),
    ("train-rbm --out {d}/adir --epochs 1", "directory"),
    ("stp-mixing {d}/listhdr.npz --out {d}/afile", "is a file"),
    ("stp-mixing {d}/listhdr.npz --seeds x --out {d}/o", "--seeds"),
    ("stp-mixing {d}/listhdr.npz --samplers gibbs,hmc --out {d}/o", "unknown sampler"),
    ("classify-spiking {d}/listhdr.npz --out {d}/adir", "directory"),
    ("tempering {d}/listhdr.npz --frequency-hz 10 --amplitude-hz 100 --out {d}/adir",
     "directory"),
    ("tempering {d}/listhdr.npz --frequency-hz 10 --amplitude-hz 5000 --mean-hz 3000",
     "amplitude"),
    ("hcs-compare --out {d}/adir", "directory"),
    ("temperature-map --plot {d}/adir", "directory"),
    ("reproduce nope --out {d}/r", "unknown claim"),
    ("reproduce core-kl --seeds 0 --out {d}/r", "--seeds"),
    ("reproduce core-kl --out {d}/afile", "not a directory"),
    ("generative-quality {d}/afile", "not an npz"),
    ("generative-quality /dev/null", "not a regular file"),
    ("demo --out {d}/afile", "is a file"),
    ("plasticity-protocol nope", "unknown protocol"),
    ("sample-bm --calibration {d}/badcal.json --duration-ms 100", "p_on values"),
    ("sample-bm --calibration nope --duration-ms 100", "sbs-tutorial, fast-membrane"),
    ("sample-bm --calibration {d}/adir --duration-ms 100", "not a regular file"),
    ("hcs-compare --no-curves --kl --kl-calibration fast-membrane.json", "not found"),
    ("fidelity {d}/missing.npz", "not found"),
    ("fidelity {d}/afile", "not an npz"),
    ("fidelity {d}/listhdr.npz --images 0", "--images"),
    ("fidelity {d}/listhdr.npz --duration-ms 0", "--duration-ms"),
    ("fidelity {d}/listhdr.npz --phases 1", "--phases"),
    ("classify-spiking {d}/listhdr.npz --phases 0", "--phases"),
    ("fidelity {d}/listhdr.npz --out {d}/afile/f.json", "not a folder"),
    ("fidelity {d}/listhdr.npz --correction {d}/afile", "not valid JSON"),
    ("train-spiking {d}/missing.npz --out {d}/m.npz", "not found"),
    ("train-spiking {d}/afile --out {d}/m.npz", "not an npz"),
    ("train-spiking {d}/listhdr.npz --epochs 0 --out {d}/m.npz", "--epochs"),
    ("train-spiking {d}/listhdr.npz --chains 0 --out {d}/m.npz", "--chains"),
    ("train-spiking {d}/listhdr.npz --out {d}/afile/m.npz", "not a folder"),
    ("train-spiking {d}/listhdr.npz --out {d}/adir", "directory"),
    ("train-spiking {d}/listhdr.npz --out {d}/m.npz --resume", "no checkpoint"),
    ("train-spiking {d}/listhdr.npz --out {d}/m.npz --class-weights 1,0.1", "--class-weights"),
    ("train-spiking {d}/listhdr.npz --out {d}/m.npz --class-weights 1,x", "--class-weights"),
    ("train-spiking {d}/listhdr.npz --out {d}/m.npz --stp --stp-U 2", "--stp-U"),
    ("train-spiking {d}/listhdr.npz --out {d}/m.npz --discriminative-weight -1",
     "--discriminative-weight"),
    ("classify-spiking {d}/listhdr.npz --clamp glue", "--clamp"),
    # --run-dir: refused before the run; a run refused before it starts writes no directory
    ("temperature-map --no-measure --run-dir {d}/afile", "not a directory"),
    ("sample-bm --run-dir {d}/afile/runs", "is not a directory"),
    ("temperature-map --no-measure --run-dir /proc/lifsampling-runs", "not writable"),
    ("evaluate {d}/missing.npz --run-dir {d}/runs", "not found"),
    ("stp-sweep {d}/listhdr.npz --U 2 --run-dir {d}/runs", "--U must be in (0, 1], got 2"),
    ("stp-sweep {d}/listhdr.npz --tau-rec-ms 0 --run-dir {d}/runs", "--tau-rec-ms must be > 0"),
    ("stp-mixing {d}/listhdr.npz --samples 2 --out {d}/o --run-dir {d}/runs",
     "--samples must be >= 3"),
    ("stp-mixing {d}/listhdr.npz --U 0 --out {d}/o --run-dir {d}/runs", "--U must be in (0, 1]"),
    ("stp-imbalance --epochs 0 --out {d}/o --run-dir {d}/runs", "--epochs must be >= 1"),
    ("stp-imbalance --samplers stp,hmc --out {d}/o --run-dir {d}/runs", "unknown sampler"),
    ("classify-spiking {d}/listhdr.npz --correction {d}/afile --run-dir {d}/runs",
     "--correction applies to the synapses"),
    ("classify-spiking {d}/listhdr.npz --duration-ms 0 --run-dir {d}/runs",
     "--duration-ms must be > 0"),
    ("classify-spiking {d}/listhdr.npz --batch-size 0 --run-dir {d}/runs",
     "--batch-size must be >= 1"),
    ("temperature-map --rates-hz 3000 --run-dir {d}/runs", "--rates-hz needs at least two"),
    ("temperature-map --reference-hz -1 --run-dir {d}/runs", "--reference-hz must be > 0"),
    ("sample-bm --synapses tm --run-dir {d}/runs", "--synapses must be renewing or additive"),
    ("sample-bm --units 17 --run-dir {d}/runs", "--units must be between 1 and 16"),
    ("fidelity {d}/listhdr.npz --correction {d}/c.json --fit-correction --run-dir {d}/runs",
     "--correction and --fit-correction exclude each other"),
    ("fidelity {d}/listhdr.npz --iterations 0 --run-dir {d}/runs", "--iterations must be >= 1"),
    ("hcs-compare --no-curves --run-dir {d}/runs", "nothing to do"),
    ("hcs-compare --chains 1 --run-dir {d}/runs", "--chains must be >= 2"),
    ("evaluate {d}/listhdr.npz --ais-runs 0", "--ais-runs must be >= 1, got 0"),
    ("evaluate {d}/listhdr.npz --ais-betas 2 --run-dir {d}/runs", "--ais-betas must be >= 3"),
    ("sample {d}/listhdr.npz --out {d}/s.npz --sampler hmc",
     "--sampler must be one of gibbs, ast, pt, got 'hmc'"),
    ("sample {d}/listhdr.npz --out {d}/s.npz --beta-min 1", "--beta-min must be in [0, 1)"),
    ("sample {d}/listhdr.npz --out {d}/s.npz --n 0 --run-dir {d}/runs", "--n must be >= 1"),
    ("sample {d}/listhdr.npz --out {d}/s.npz --init zeros", "--init must be random or data"),
    ("calibrate --chains 0", "--chains must be >= 1, got 0"),
    ("calibrate --rate-hz -1 --run-dir {d}/runs", "--rate-hz must be >= 0"),
    ("calibrate --low-mv -50", "--low-mv and --high-mv: give both or neither"),
    ("calibrate --device tpu", "--device must be auto, cpu, cuda or cuda:k"),
    ("tempering {d}/listhdr.npz --frequency-hz 0 --amplitude-hz 100",
     "--frequency-hz must be > 0"),
    ("tempering {d}/listhdr.npz --frequency-hz 10 --amplitude-hz 100 --read-t 0.5",
     "--read-t must be >= 1"),
    ("tempering {d}/listhdr.npz --frequency-hz 10 --amplitude-hz 100 --duration-ms 50 "
     "--run-dir {d}/runs", "--duration-ms 50 is shorter than one period (100 ms)"),
    ("tempering {d}/missing.npz --frequency-hz 10 --amplitude-hz 100", "not found"),
    ("tempering {d}/listhdr.npz --frequency-hz 10 --amplitude-hz 100 --calibration nope",
     "sbs-tutorial, fast-membrane"),
    ("tempering-study --quick --calibration nope --out {d}/o", "sbs-tutorial, fast-membrane"),
    ("tempering-study --quick --calibration {d}/badcal.json --out {d}/o", "p_on values"),
    ("plasticity-protocol stdp --reps 0", "--reps must be a whole number > 0, got 0"),
    ("plasticity-protocol rate --rates -5,10 --run-dir {d}/runs", "--rates must be >= 0 Hz"),
    ("plasticity-protocol stdp --gb-preset nope", "--gb-preset must be one of DP"),
    ("plasticity-protocol stdp --device tpu", "--device must be auto, cpu, cuda"),
    ("plasticity-figures --reps 0 --out {d}/o --figures {d}/f",
     "--reps must be a whole number > 0"),
    ("plasticity-figures --duration-ms 0 --out {d}/o --figures {d}/f --run-dir {d}/runs",
     "--duration-ms must be > 0"),
    ("plasticity-figures --figures {d}/afile --out {d}/o", "is a file"),
    ("report {d}/adir --out {d}/r.html", "run directory"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[c[0].split()[0] + str(i)
                                                      for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_and_writes_nothing(place, monkeypatch, capsys, args, message):
    before = sorted(str(p.relative_to(place)) for p in place.rglob("*"))
    monkeypatch.chdir(place)
    monkeypatch.setattr(sys, "argv", ["lifsampling", *args.format(d=place).split()])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert sorted(str(p.relative_to(place)) for p in place.rglob("*")) == before
