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
