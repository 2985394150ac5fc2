"""Dense feed-forward weights, applied to a whole sequence at once."""

from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._types import AbstractLayer, ParamLike, RecordSpec
from .._validate import as_param, check_count, check_finite

__all__ = ["Linear", "kaiming_uniform"]


def kaiming_uniform(key: Optional[PRNGKeyArray], shape: tuple[int, ...], fan_in: int, scale: float = 1.0) -> Array:
    r"""$\mathcal U(-s/\sqrt{n_{in}}, s/\sqrt{n_{in}})$: PyTorch's ``nn.Linear`` initialisation
    (He et al. 2015, doi:10.1109/ICCV.2015.123, with gain for $a=\sqrt5$) times ``scale``."""
    if key is None:
        raise ValueError("`key` is required to initialise weights (jax.random.key(seed))")
    bound = scale / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.result_type(float), -bound, bound)


class Linear(AbstractLayer):
    r"""$y_t = x_t W + b$ for every step $t$ in one matrix product.

    ``weight[pre, post]`` has shape ``(in_features, out_features)`` (the spikax convention,
    shared with ``Recurrent.w_rec``); ``bias`` ``(out_features,)`` or ``None``.
    :meth:`create` initialises both Kaiming-uniform as PyTorch's ``nn.Linear``:
    $W, b \sim \mathcal U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})$.

    Called as every layer: ``ys, state, record = linear(xs)`` with ``xs`` ``(T, in_features)``
    (any leading axes), ``ys`` ``(T, out_features)``; it has no state (``None``).
    """

    weight: Float[Array, "in_features out_features"]
    bias: Optional[Float[Array, " out_features"]]

    def __init__(self, weight: ParamLike, bias: Optional[ParamLike] = None):
        weight = as_param("weight", weight)
        if weight.ndim != 2:
            raise ValueError(f"`weight` must be 2-D (in_features, out_features), got shape {weight.shape}")
        self.weight = weight
        self.bias = None if bias is None else as_param("bias", bias, shape=(weight.shape[1],))

    @classmethod
    def create(
        cls, in_features: int, out_features: int, *, use_bias: bool = True, key: Optional[PRNGKeyArray]
    ) -> "Linear":
        """A layer of ``in_features`` inputs and ``out_features`` outputs, initialised from ``key``."""
        n_in, n_out = check_count("in_features", in_features), check_count("out_features", out_features)
        if key is None:
            raise ValueError("`key` is required to initialise Linear weights (jax.random.key(seed))")
        wkey, bkey = jax.random.split(key)
        weight = kaiming_uniform(wkey, (n_in, n_out), n_in)
        return cls(weight, kaiming_uniform(bkey, (n_out,), n_in) if use_bias else None)

    @property
    def in_features(self) -> int:
        return self.weight.shape[0]

    @property
    def out_features(self) -> int:
        return self.weight.shape[1]

    def init_state(self, input_shape=None):
        return None

    def __call__(
        self, xs: Float[ArrayLike, "*time in_features"], state: None = None, *, key=None, record: RecordSpec = False
    ) -> tuple[Float[Array, "*time out_features"], None, Optional[dict]]:
        xs = jnp.asarray(xs)
        if xs.ndim < 1 or xs.shape[-1] != self.in_features:
            raise ValueError(
                f"`xs` must end with in_features = {self.in_features} channels, got shape {xs.shape}"
            )
        check_finite("xs", xs), check_finite("weight", self.weight), check_finite("bias", self.bias)
        ys = xs @ self.weight
        if self.bias is not None:
            ys = ys + jnp.broadcast_to(self.bias, ys.shape)
        # No run-time check under jit: a product carries any NaN into its output, where the next
        # model's output check (or the caller) sees it; a check here would cost the LIF
        # benchmark ~8 % and a kept 16 MiB buffer in the backward pass.
        return ys, None, ({} if record else None)
