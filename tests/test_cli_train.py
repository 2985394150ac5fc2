"""``spikax train``: a run writes its files and resumes; bad options are one line, exit 2."""

import json
import sys

import pytest

import spikax as sx
from spikax import cli


def test_train_dynapse_writes_checkpoint_metrics_figures_and_robustness(tmp_path, capsys):
    out = tmp_path / "run"
    # --fan-in 40 holds the two neurons at 40 of their 61 inputs (a Masked weight, checkpointed).
    args = ["train", "--task", "frozen-noise", "--model", "dynapse", "--epochs", "1", "--chips", "2",
            "--out", str(out), "--no-progress", "--fan-in", "40"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "dynapse on frozen-noise: test accuracy" in printed and "over 2 drawn chips" in printed
    for name in ("checkpoint.spikax", "model.spikax", "metrics.jsonl", "curves.png", "sample.png",
                 "robustness.json", "robustness.png", "summary.json"):
        assert (out / name).stat().st_size > 100, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and set(summary["robustness"]) == {"0%", "5%", "10%", "20%", "30%"}
    robustness = json.loads((out / "robustness.json").read_text())
    assert [len(v) for v in robustness["values"]] == [2] * 5
    model = sx.train.load_model(out / "model.spikax")
    assert isinstance(model.layers[1].cell, sx.devices.dynapse.DynapSim)
    w_rec = model.layers[1].w_rec
    fan_in = (model.layers[0].weight != 0).sum(0) + (w_rec.ampa + w_rec.shunt != 0).sum(0)
    assert fan_in.tolist() == [40, 40] and summary["fan_in"] == 40


def test_train_refuses_to_overwrite_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--task", "frozen-noise", "--model", "lif", "--epochs", "2", "--out", str(out), "--no-progress"]
    assert cli.main(args) == 0
    # A second run into the same folder must say how to continue, not overwrite.
    before = (out / "checkpoint.spikax").read_bytes()
    assert cli.main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / "checkpoint.spikax").read_bytes() == before
    assert cli.main(args[:6] + ["3"] + args[7:] + ["--resume"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert json.loads((out / "summary.json").read_text())["epochs"] == 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "lif", "--mismatch", "10"], "--mismatch applies to --model dynapse"),
        (["--epochs", "0"], "--epochs"),
        (["--task", "speech"], "--task"),
        (["--mismatch", "-5"], "--mismatch"),
        (["--lr", "nan"], "--lr"),
        (["--resume"], "--resume"),
        (["--model", "lif", "--fan-in", "64"], "--fan-in applies to --model dynapse"),
        (["--fan-in", "65"], "--fan-in"),
        (["--devices", "x"], "--devices: must be a number of CPU devices or 'all'"),
        (["--devices", "0"], "--devices: must be between 1 and"),
    ],
)
def test_bad_train_options_are_one_line(tmp_path, capsys, extra, message):
    argv = ["train", "--task", "frozen-noise", "--out", str(tmp_path / "x"), "--no-progress"] + extra
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_vowels_without_aeon_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon", None)  # import aeon now raises ImportError
    assert cli.main(["train", "--task", "vowels", "--out", str(tmp_path)]) == 2
    assert "spikax[data]" in capsys.readouterr().err


def test_train_help_explains_it(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for word in ("--task", "--mismatch", "--resume", "robustness", "checkpoint"):
        assert word in text


@pytest.mark.skipif(sx.distributed.default_cpu_devices() < 2, reason="needs 2 cores for --devices 2")
def test_a_batch_that_does_not_divide_over_the_devices_is_one_line(tmp_path, capsys):
    import subprocess

    # This process's JAX has started with one device: a second cannot be added any more.
    assert cli.main(["train", "--task", "frozen-noise", "--devices", "2", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikax train: error: --devices 2: cannot expose 2 CPU devices") and "\n" not in err

    # A fresh process (its device count is set before JAX starts): refused before any training.
    r = subprocess.run([sys.executable, "-m", "spikax.cli", "train", "--task", "frozen-noise", "--devices", "2",
                        "--batch-size", "3", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == (
        "spikax train: error: --batch-size 3 does not divide over --devices 2: each device takes an equal share "
        "of a batch (try --batch-size 4)"), r.stderr
