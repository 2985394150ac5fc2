"""The examples run end to end and tell the story they claim."""

import importlib.util
import io
import re
import sys

import numpy as np

from conftest import REPO


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses (an example's eqx.Module) look their module up there
    spec.loader.exec_module(module)
    return module


def _visible_ticks(axis):
    lo, hi = sorted(axis.get_view_interval())
    return [t for t in axis.get_majorticklocs() if lo - 1e-9 <= t <= hi + 1e-9]


def test_dynapse_tutorial_runs(tmp_path, capsys):
    result = _load("dynapse_tutorial").main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    for section in ("the circuit", "f-I curve", "adaptation", "NMDA gating", "GABA vs SHUNT", "mismatch"):
        assert section in out
    for name in ("single_neuron.png", "fi_curve.png", "adaptation.png", "mismatch.png"):
        assert (tmp_path / name).stat().st_size > 5000
    # Mismatch: 10 chips x 8 neurons around the nominal 41 Hz (1 s at the 1 ms DynapSim step).
    rates = result["mismatch_rates"]
    assert rates.shape == (10, 8)
    assert 37 < rates.mean() < 45 and 2 < rates.std() < 8 and np.all(rates > 20)
    # The figure says "neuron (rows) and chip (columns)": it used to draw the 10 chips as rows
    # labelled "neuron", with cells between the integer ticks.
    fig = result["figures"]["mismatch.png"]
    fig.savefig(io.BytesIO(), format="png")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("chip", "neuron")
    image = ax.images[0]
    np.testing.assert_allclose(image.get_array(), rates.T)  # rows = neurons
    assert tuple(image.get_extent()) == (-0.5, 9.5, -0.5, 7.5)  # cell (chip c, neuron n) centred on (c, n)
    assert _visible_ticks(ax.xaxis) == list(range(10)) and _visible_ticks(ax.yaxis) == list(range(8))
    assert fig.axes[1].get_ylabel() == "rate (Hz)"
    # Legends off the data: beside (adaptation) or above (single neuron) the axes.
    for name in ("adaptation.png", "single_neuron.png"):
        fig = result["figures"][name]
        fig.savefig(io.BytesIO(), format="png")
        legend = fig.axes[0].get_legend()
        assert not any(legend.get_window_extent().overlaps(a.get_window_extent()) for a in fig.axes), name


def test_readme_first_example_fires_at_realistic_rates(tmp_path, monkeypatch):
    # It used to fire at up to 867 Hz, three spikes in one 1 ms step.
    block = re.findall(r"## Twenty lines\s*```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)[0]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    spikes = np.asarray(namespace["spikes_out"])
    rates = spikes.sum(0) / 1.0  # 1 s
    assert spikes.shape == (1000, 20) and spikes.max() == 1
    assert 5 <= rates.min() and rates.max() <= 50, rates
    np.testing.assert_allclose(np.asarray(namespace["rates"]), rates, rtol=1e-5)  # what it prints


def test_neuron_zoo_example(tmp_path, capsys):
    naud, izh = _load("neuron_zoo").main(["--out", str(tmp_path)])
    for name in ("naud2008.png", "izhikevich2003.png"):
        assert (tmp_path / name).stat().st_size > 20000
    assert len(naud) == 8 and all(len(t) > 0 for t in naud.values())
    assert naud["transient spiking"].max() < 150.0 and len(naud["tonic spiking"]) > 40
    assert len(izh["thalamo-cortical"]) >= 2 and izh["thalamo-cortical"].min() > 250.0  # rebound only
    assert len(izh["resonator"]) == 1 and izh["resonator"][0] > 95.0  # fires after the second kick
    assert "irregular spiking" in capsys.readouterr().out


def test_own_neuron_tutorial(tmp_path):
    summary = _load("own_neuron").main(["--out", str(tmp_path), "--intervals", "5"])
    assert (tmp_path / "own_neuron.png").stat().st_size > 20000
    rates = np.array(list(summary["qif_rates_hz"].values()))
    assert rates[0] == 0 and np.all(np.diff(rates) >= 0) and rates[-1] > 50  # type I: from zero, rising
    # The resonator: kicks one period apart fire it, half a period apart cancel.
    assert summary["spikes_one_period"] == 1 and summary["spikes_half_period"] == 0
    assert np.isfinite(summary["d_count_d_omega"]) and summary["d_count_d_omega"] != 0


def test_nir_exchange_tutorial(tmp_path):
    import pytest

    pytest.importorskip("nir")
    summary = _load("nir_exchange").main(["--out", str(tmp_path), "--steps", "60"])
    assert summary["round_trip_identical"] and summary["round_trip_spikes"] > 20
    counts = summary["spikes_per_preset"]
    assert len({tuple(c) for c in counts.values()}) > 1  # the updates differ on the same file
    assert (tmp_path / "net.nir").exists() and (tmp_path / "nir_exchange.png").stat().st_size > 20000


def test_scaling_out_tutorial(tmp_path):
    summary = _load("scaling_out").main(["--out", str(tmp_path), "--chips", "12", "--steps", "100"])
    rates = np.array(summary["fi_rates_hz"])
    assert rates[0] == 0 and rates[-1] > 20 and np.all(np.diff(rates) >= 0)  # the f-I curve
    assert 0 < summary["chip_rate_std_hz"] < 0.2 * summary["chip_mean_rate_hz"]  # chips differ, a little
    assert summary["batch_spikes"] > 0 and np.isfinite(summary["grad_norm"]) and summary["grad_norm"] > 0
    assert (tmp_path / "scaling_out.png").stat().st_size > 20000
