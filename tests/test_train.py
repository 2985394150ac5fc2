"""Losses on spike counts: closed forms and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx


def test_cross_entropy_of_spike_counts_in_closed_form():
    counts = jnp.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    labels = jnp.array([0, 1])
    z = np.exp([3.0, 1.0, 0.0])
    want = -(np.log(z[0] / z.sum()) + np.log(1.0 / (2.0 + np.exp(5.0)))) / 2
    np.testing.assert_allclose(float(sx.train.spike_count_cross_entropy(counts, labels)), want, rtol=1e-6)
    # Its gradient is softmax - onehot, averaged over the batch.
    g = jax.grad(sx.train.spike_count_cross_entropy)(counts, labels)
    p = jax.nn.softmax(counts, axis=-1)
    np.testing.assert_allclose(g, (p - jax.nn.one_hot(labels, 3)) / 2, rtol=1e-5, atol=1e-7)
    assert float(sx.train.spike_count_accuracy(counts, labels)) == 0.5


def test_loss_errors():
    # Under the tests' run-time type checks the annotation catches the shape first (TypeError).
    with pytest.raises((ValueError, TypeError), match="counts"):
        sx.train.spike_count_cross_entropy(jnp.ones(3), jnp.array([0]))
    with pytest.raises((ValueError, TypeError), match="labels"):
        sx.train.spike_count_cross_entropy(jnp.ones((2, 3)), jnp.array([0.0, 1.0]))
