"""Dense feed-forward weights, applied to a whole sequence at once."""

from __future__ import annotations

import math
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validate import as_param

__all__ = ["Linear"]


class Linear(eqx.Module):
    r"""$y_t = x_t W + b$ for every step $t$ in one matrix product.

    ``weight[pre, post]`` has shape ``(in_features, out_features)`` (the spikax convention,
    shared with ``Recurrent.w_rec``). Initialisation is Kaiming-uniform as PyTorch's
    ``nn.Linear`` (He et al. 2015, doi:10.1109/ICCV.2015.123, with gain for $a=\sqrt5$):
    $W, b \sim \mathcal U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})$.

    **Arguments:** ``in_features``, ``out_features``; ``use_bias`` (default ``True``);
    ``key``: a JAX PRNG key (required). :meth:`from_weights` builds one from given arrays.

    Called as every layer: ``ys, state, record = linear(xs)`` with ``xs`` ``(T, in_features)``
    (any leading axes), ``ys`` ``(T, out_features)``; it has no state (``None``).
    """

    weight: Float[Array, "in_features out_features"]
    bias: Optional[Float[Array, " out_features"]]

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True, key: PRNGKeyArray):
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if key is None:
            raise ValueError("`key` is required to initialise Linear weights (jax.random.key(seed))")
        wkey, bkey = jax.random.split(key)
        bound = 1.0 / math.sqrt(in_features)
        dtype = jnp.result_type(float)
        self.weight = jax.random.uniform(wkey, (in_features, out_features), dtype, -bound, bound)
        self.bias = jax.random.uniform(bkey, (out_features,), dtype, -bound, bound) if use_bias else None

    @classmethod
    def from_weights(cls, weight: ArrayLike, bias: Optional[ArrayLike] = None) -> "Linear":
        """A Linear layer with the given ``weight`` ``(in, out)`` and optional ``bias`` ``(out,)``."""
        weight = as_param("weight", weight)
        if weight.ndim != 2:
            raise ValueError(f"`weight` must be 2-D (in_features, out_features), got shape {weight.shape}")
        self = object.__new__(cls)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "bias", None if bias is None else as_param("bias", bias, shape=(weight.shape[1],)))
        return self

    @property
    def in_features(self) -> int:
        return self.weight.shape[0]

    @property
    def out_features(self) -> int:
        return self.weight.shape[1]

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs, state=None, *, key=None, record=False):
        xs = jnp.asarray(xs)
        if xs.ndim < 1 or xs.shape[-1] != self.in_features:
            raise ValueError(
                f"`xs` must end with in_features = {self.in_features} channels, got shape {xs.shape}"
            )
        ys = xs @ self.weight
        if self.bias is not None:
            ys = ys + self.bias
        return ys, None, ({} if record else None)
