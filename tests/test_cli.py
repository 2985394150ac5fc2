import json
import re
import tomllib

import numpy as np
import pytest

import spikax as sx
from conftest import REPO
from spikax import cli


def test_default_demo_is_the_dynapse_tutorial_case(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--rate", "40"]) == 0
    printed = capsys.readouterr().out
    assert "DYNAP-SE2" in printed and "output spikes" in printed
    for name in ("input_raster.png", "output_raster.png", "vmem_isyn.png", "imem.png", "spike_function.png"):
        assert (out / name).stat().st_size > 5000, name
    rec = np.load(out / "recordings.npz")
    for key in ("imem", "vmem", "iampa", "inmda", "igaba", "ishunt", "iahp"):
        assert rec[key].shape == (1000,), key
    assert rec["input_spikes"].shape == (1000, 1) and float(rec["weight"]) == 0.1
    summary = json.loads((out / "summary.json").read_text())
    n_out = int(rec["output_spikes"].sum())
    assert summary["output_spikes"] == n_out > 0
    assert summary["input_spikes"] == int(rec["input_spikes"].sum())
    # The summary used to print "peak Imem 9.56e-08 A (threshold 1e-07 A)" beside 4 spikes.
    # The recording is after each step's reset, so its peak is below the threshold; what
    # crossed it are the spikes, one per crossing (binary spikes, the default).
    assert summary["threshold_crossings"] == n_out == int((rec["output_spikes"] > 0).sum())
    assert summary["max_recorded_imem_A"] == pytest.approx(float(rec["imem"].max()))
    assert summary["max_recorded_imem_A"] < summary["Ispkthr_A"] == pytest.approx(1e-7)
    assert f"crossed Ispkthr = 1e-07 A {n_out} times" in printed
    assert f"it peaks at {summary['max_recorded_imem_A']:.3g} A" in printed


def test_lif_demo_writes_figures_recordings_and_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--model", "lif", "--out", str(out), "--duration", "0.3", "--n-neurons", "6", "--n-inputs", "30"]
    code = cli.main(args)
    assert code == 0
    printed = capsys.readouterr().out
    assert "output spikes" in printed and str(out.resolve()) in printed
    for name in ("input_raster.png", "output_raster.png", "membrane_traces.png", "membrane_heatmap.png", "neuron.png"):
        assert (out / name).stat().st_size > 5000, name
    rec = np.load(out / "recordings.npz")
    assert rec["input_spikes"].shape == (300, 30)
    assert rec["output_spikes"].shape == (300, 6) and rec["v"].shape == (300, 6)
    assert float(rec["dt"]) == 1e-3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["output_spikes"] == int(rec["output_spikes"].sum())
    assert summary["input_spikes"] == int(rec["input_spikes"].sum()) > 0
    assert summary["max_spikes_per_step"] == int(rec["output_spikes"].max())


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    assert "--out" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"spikax {sx.__version__}\n"
    # The attribute is what --version prints; it must agree with what pip installs.
    assert sx.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _error(args, capsys):
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.err


BAD_OPTIONS = [
    (["--n-neurons", "0", "--model", "lif"], "--n-neurons"),  # used to name `out_features`
    (["--n-inputs", "-3", "--model", "lif"], "--n-inputs"),
    (["--n-inputs", "2.5"], "--n-inputs"),
    (["--weight", "-1"], "--weight"),  # used to be labelled AMPA and sent to GABA
    (["--weight", "nan"], "--weight"),
    (["--weight", "1e6"], "--weight"),
    (["--rate", "-5"], "--rate"),
    (["--rate", "inf"], "--rate"),
    (["--rate", "2000"], "--rate"),  # 2 spikes per 1 ms step: a binary train cannot
    (["--duration", "0"], "--duration"),
    (["--duration", "nan"], "--duration"),
    (["--duration", "1e9"], "--duration"),  # 1e12 steps
    (["--duration", "0.0015"], "--duration"),  # not a whole number of steps
    (["--dt", "-1"], "--dt"),
    (["--dt", "0"], "--dt"),
    (["--dt", "inf"], "--dt"),
    (["--dt", "2"], "--dt"),  # longer than --duration
    (["--dt", "2e-3"], "--dt"),  # longer than the DYNAP-SE2 refractory period
    (["--model", "lif", "--dt", "0.015", "--duration", "0.03"], "--tau-syn"),
    (["--model", "lif", "--tau-mem", "0"], "--tau-mem"),
    (["--model", "lif", "--tau-syn", "-1e-3"], "--tau-syn"),
    (["--model", "lif", "--v-threshold", "0"], "--v-threshold"),
    (["--model", "lif", "--weight-gain", "-1"], "--weight-gain"),
    (["--model", "lif", "--noise-std", "-0.1"], "--noise-std"),
    (["--model", "lif", "--noise-std", "nan"], "--noise-std"),
    (["--model", "lif", "--n-inputs", "100000", "--n-neurons", "1000"], "--n-inputs"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--model", "spiking"], "--model"),
]


@pytest.mark.parametrize("args, option", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_option_is_one_line_naming_it(tmp_path, capsys, args, option):
    out = tmp_path / "out"
    code, err = _error(["demo", "--out", str(out), *args], capsys)
    assert code == 2
    assert err.startswith("spikax demo: error: ") and err.count("\n") == 1, err
    assert option in err and "Traceback" not in err
    assert not out.exists()  # checked before anything is created, simulated or written


def test_negative_weight_says_why(tmp_path, capsys):
    _, err = _error(["demo", "--out", str(tmp_path), "--weight", "-1"], capsys)
    assert "AMPA" in err and "GABA" in err


def test_unwritable_out_folder_is_a_clear_error(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    for out, reason in ((a_file, "is a file"), (a_file / "sub", "cannot write")):
        code, err = _error(["demo", "--out", str(out), "--duration", "0.01"], capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert re.match(rf"spikax demo: error: --out {re.escape(str(out))}: {reason}", err), err


def test_unknown_option_is_one_line(tmp_path, capsys):
    code, err = _error(["demo", "--out", str(tmp_path), "--frobnicate", "3"], capsys)
    assert code == 2 and err == "spikax: error: unrecognized arguments: --frobnicate 3\n"
