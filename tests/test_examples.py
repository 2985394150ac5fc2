"""The DYNAP-SE tutorial example runs end to end and tells the story it claims."""

import importlib.util

from conftest import REPO


def test_dynapse_tutorial_runs(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("dynapse_tutorial", REPO / "examples" / "dynapse_tutorial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    for section in ("the circuit", "f-I curve", "adaptation", "NMDA gating", "GABA vs SHUNT", "mismatch"):
        assert section in out
    for name in ("single_neuron.png", "fi_curve.png", "adaptation.png", "mismatch.png"):
        assert (tmp_path / name).stat().st_size > 5000


def test_neuron_zoo_example(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("neuron_zoo", REPO / "examples" / "neuron_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    naud, izh = module.main(["--out", str(tmp_path)])
    for name in ("naud2008.png", "izhikevich2003.png"):
        assert (tmp_path / name).stat().st_size > 20000
    assert len(naud) == 8 and all(len(t) > 0 for t in naud.values())
    assert naud["transient spiking"].max() < 150.0 and len(naud["tonic spiking"]) > 40
    assert len(izh["thalamo-cortical"]) >= 2 and izh["thalamo-cortical"].min() > 250.0  # rebound only
    assert len(izh["resonator"]) == 1 and izh["resonator"][0] > 95.0  # fires after the second kick
    assert "irregular spiking" in capsys.readouterr().out
