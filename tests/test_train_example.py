"""The training examples, shortened: the loss must fall and accuracy rise above chance."""

import importlib.util
import json

import numpy as np
import pytest

import spikax as sx

from conftest import REPO


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_training_reduces_the_loss():
    pytest.importorskip("sklearn")
    _, history, test_acc = load_example("train_digits").train(epochs=3, max_batches=10, verbose=False)
    losses = [h["train_loss"] for h in history]
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0], losses
    assert test_acc > 0.5  # chance is 0.1; the full example reaches about 0.95


def test_frozen_noise_example_separates_the_two_classes(tmp_path):
    summary = load_example("dynapse_frozen_noise").main(["--epochs", "60", "--lr", "1e-2", "--out", str(tmp_path)])
    after = np.asarray(summary["counts_after"])
    # Each sample's own neuron fires more than the other one (the full run: 24 vs 3, 20 vs 5).
    assert after[0, 0] > after[0, 1] and after[1, 1] > after[1, 0], after
    assert summary["accuracy"] == 1.0
    # Gradients of order 1e-3..1 per unit weight and per e-fold of current: Adam at 1e-3 needs no rescaling.
    scale = summary["gradient_scale"]
    assert 1e-3 < scale["dL/dw_in median"] < 1.0 and 1e-4 < scale["dL/dlnI median"] < 10.0
    assert 1e-4 < scale["dL/dw_rec max"] < 10.0
    for name in ("frozen_noise.png", "metrics.jsonl", "model.spikax", "summary.json"):
        assert (tmp_path / name).exists()
    assert json.loads((tmp_path / "summary.json").read_text())["counts_after"] == after.tolist()


def test_deploy_example_runs_the_whole_path(tmp_path):
    import jax

    dd = pytest.importorskip("spikax.devices.dynapse.deploy")
    # A frozen-noise chip network (60 inputs, 2 neurons), untrained, pruned to 30 inputs per
    # neuron: the example's path without its training run.
    net = dd.prune_fan_in(sx.train.chip_network(60, 2, key=jax.random.key(0), recurrent=False), 30)
    sx.train.save_model(tmp_path / "model.spikax", net)
    summary = load_example("deploy_vowels").main([
        "--task", "frozen-noise", "--model", str(tmp_path / "model.spikax"), "--fine-tune-epochs", "0",
        "--chips", "2", "--out", str(tmp_path),
    ])
    acc = summary["accuracy"]
    assert set(acc) >= {"float", "biases rounded", "biases rounded, weights quantised", "fine-tuned, as configured"}
    assert acc["fine-tuned, as configured"] == acc["fine-tuned, read back from config_finetuned.json"]
    assert 20 < summary["report"]["max_fan_in"]["connections"] <= 30
    for name in ("config.json", "config_finetuned.json", "deploy.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 100, name
    assert sx.devices.dynapse.deploy.ChipConfig.load(tmp_path / "config.json").data["dt"] == 1e-3


def test_vowels_tutorial_runs_at_a_small_size(tmp_path):
    pytest.importorskip("aeon")  # the data extra; the same training path runs in test_cli_train on frozen noise
    summary = load_example("train_vowels").main(
        ["--epochs", "1", "--chips", "1", "--skip-lif", "--out", str(tmp_path)]
    )
    assert set(summary) == {"dynapse", "dynapse-mismatch"}
    assert all(0.0 <= s["test_accuracy"] <= 1.0 for s in summary.values())
    assert (tmp_path / "robustness.png").stat().st_size > 20000
