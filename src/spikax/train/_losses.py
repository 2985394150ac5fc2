"""Losses and metrics on spike counts."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

__all__ = ["spike_count_accuracy", "spike_count_cross_entropy"]


def _check(counts, labels):
    counts, labels = jnp.asarray(counts), jnp.asarray(labels)
    if counts.ndim != 2:
        raise ValueError(f"`counts` must be (batch, classes), got shape {counts.shape}")
    if labels.shape != counts.shape[:1] or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`labels` must be integer class indices of shape ({counts.shape[0]},), got {labels.dtype} {labels.shape}"
        )
    return counts, labels


def spike_count_cross_entropy(counts: Float[ArrayLike, "batch classes"], labels: Int[ArrayLike, " batch"]) -> Array:
    r"""Mean cross-entropy of the softmax of output spike counts:
    $-\frac1B \sum_b \log \mathrm{softmax}(n_b)_{y_b}$, with $n_b$ the spike count of each class
    neuron for sample $b$ (the rate-coded readout of Neftci et al. 2019, doi:10.1109/MSP.2019.2931595).
    """
    counts, labels = _check(counts, labels)
    # log-sum-exp about the (constant) maximum: exact, and finite for any counts.
    shifted = counts - lax.stop_gradient(jnp.max(counts, axis=-1, keepdims=True))
    picked = jnp.take_along_axis(shifted, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(jnp.log(jnp.sum(jnp.exp(shifted), axis=-1)) - picked)


def spike_count_accuracy(counts: Float[ArrayLike, "batch classes"], labels: Int[ArrayLike, " batch"]) -> Array:
    """Fraction of samples whose most active output neuron is the label (ties: the lowest index)."""
    counts, labels = _check(counts, labels)
    return jnp.mean(jnp.argmax(counts, axis=-1) == labels)
