import json

import numpy as np
import pytest

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
    assert summary["output_spikes"] == int(rec["output_spikes"].sum()) > 0
    assert summary["input_spikes"] == int(rec["input_spikes"].sum())


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


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    assert "--out" in capsys.readouterr().out


def test_bad_option_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--dt", "-1"]) == 2
    assert "`dt`" in capsys.readouterr().err
