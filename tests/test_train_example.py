"""The training example, shortened: the loss must fall and accuracy rise above chance."""

import importlib.util

import numpy as np
import pytest

from conftest import REPO

pytest.importorskip("sklearn")


def load_example():
    spec = importlib.util.spec_from_file_location("train_digits", REPO / "examples" / "train_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_reduces_the_loss():
    example = load_example()
    _, losses, test_acc = example.train(epochs=3, max_batches=10, verbose=False)
    assert len(losses) == 30 and np.all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])
    assert test_acc > 0.6  # chance is 0.1; the full example reaches about 0.97
