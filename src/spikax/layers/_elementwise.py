r"""Elementwise layers of NIR graphs: a gain, a threshold, and a delay line."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._types import AbstractLayer, AbstractSurrogate, ParamLike, RecordSpec, starting_state
from .._validate import as_param, check_choice, check_finite
from ..surrogate import FIRE_AT, FastSigmoid

__all__ = ["Delay", "DelayState", "Scale", "Threshold"]


def _sequence(xs) -> Array:
    xs = jnp.asarray(xs)
    if xs.ndim < 1:
        raise ValueError("`xs` must have a leading time axis (T, ...), got a scalar")
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        xs = xs.astype(jnp.result_type(float))
    return xs


def _broadcasts(name: str, value: Array, xs: Array) -> None:
    try:
        jnp.broadcast_shapes(value.shape, xs.shape[1:])
    except ValueError:
        raise ValueError(
            f"`{name}` of shape {value.shape} does not broadcast with input steps of shape {xs.shape[1:]}"
        ) from None


def _lead(value: Array, xs: Array) -> Array:
    """``value`` broadcast to one step of ``xs``, with a leading time axis (explicit, for strict rank promotion)."""
    return jnp.broadcast_to(value, xs.shape[1:])[None]


class Scale(AbstractLayer):
    r"""$y_t = s \odot x_t$ (NIR ``Scale``): a gain per channel (or one for all), no state."""

    scale: Float[Array, "..."]

    def __init__(self, scale: ParamLike):
        self.scale = as_param("scale", scale)

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs: ArrayLike, state: None = None, *, key=None, record: RecordSpec = False):
        xs = _sequence(xs)
        _broadcasts("scale", self.scale, xs)
        check_finite("xs", xs), check_finite("scale", self.scale)
        return xs * _lead(self.scale, xs), None, ({} if record else None)


class Threshold(AbstractLayer):
    r"""$y_t = \Theta(x_t - \vartheta)$ (NIR ``Threshold``), through a surrogate for gradients.

    ``fire_at`` ``">"`` (NIR's $\Theta(0) = 0$, the default) or ``">="``; ``spike_fn`` defaults to
    ``FastSigmoid(25)``. No state: each step's output depends on that step's input only.
    """

    threshold: Float[Array, "..."]
    spike_fn: AbstractSurrogate
    fire_at: str = eqx.field(static=True)

    def __init__(self, threshold: ParamLike, *, spike_fn: Optional[AbstractSurrogate] = None, fire_at: str = ">"):
        self.threshold = as_param("threshold", threshold)
        check_choice("fire_at", fire_at, FIRE_AT)
        self.spike_fn = FastSigmoid() if spike_fn is None else spike_fn
        if not isinstance(self.spike_fn, AbstractSurrogate):
            raise TypeError(f"`spike_fn` must be a spikax.surrogate module, got {type(spike_fn).__name__}")
        self.fire_at = fire_at

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs: ArrayLike, state: None = None, *, key=None, record: RecordSpec = False):
        xs = _sequence(xs)
        _broadcasts("threshold", self.threshold, xs)
        check_finite("xs", xs), check_finite("threshold", self.threshold)
        return self.spike_fn(xs, _lead(self.threshold, xs), self.fire_at), None, ({} if record else None)


class DelayState(eqx.Module):
    """State of :class:`Delay`: the last ``max(steps)`` inputs, oldest first (zeros at rest)."""

    buffer: Array


class Delay(AbstractLayer):
    r"""A delay line: $y_t = x_{t - d}$ with $d$ = ``steps`` per channel ($x_t = 0$ for $t < 0$; NIR ``Delay``).

    ``steps``: non-negative integers, one per channel or one for all (NIR's delay in seconds
    divided by ``dt``). The state holds the last $\max d$ inputs, so a run split in two gives the
    output of the whole run.
    """

    delays: tuple[int, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, steps):
        a = np.asarray(steps)
        if a.size == 0 or not np.issubdtype(a.dtype, np.number) or np.any(a != np.round(a)) or np.any(a < 0):
            raise ValueError(f"`steps` must be non-negative integers (a delay in steps of dt), got {steps!r}")
        # Static (hashable) because the delays set the shapes of the gather.
        self.delays, self.shape = tuple(int(v) for v in a.reshape(-1)), tuple(a.shape)

    @property
    def steps(self) -> Int[np.ndarray, "..."]:
        """The delays in steps, as an integer array of ``shape``."""
        return np.asarray(self.delays, np.int64).reshape(self.shape)

    @property
    def max_steps(self) -> int:
        return max(self.delays)

    def init_state(self, input_shape=None) -> DelayState:
        shape = () if input_shape is None else tuple(input_shape)
        return DelayState(buffer=jnp.zeros((self.max_steps,) + jnp.broadcast_shapes(shape, self.steps.shape)))

    def __call__(self, xs: ArrayLike, state: Optional[DelayState] = None, *, key=None, record: RecordSpec = False):
        xs = _sequence(xs)
        _broadcasts("steps", jnp.asarray(self.steps), xs)
        check_finite("xs", xs)
        shape = jnp.broadcast_shapes(xs.shape[1:], self.steps.shape)
        xs = jnp.broadcast_to(xs, xs.shape[:1] + shape)
        state = starting_state(self, state, xs)
        history = jnp.concatenate([state.buffer.astype(xs.dtype), xs])  # (D + T, ...)
        n, d = xs.shape[0], self.max_steps
        # Output t reads history[d + t - steps]: one gather over the whole sequence.
        rows = d + jnp.arange(n).reshape((n,) + (1,) * len(shape)) - jnp.broadcast_to(self.steps, shape)[None]
        ys = jnp.take_along_axis(history, rows, axis=0)
        return ys, DelayState(buffer=history[n:]), ({} if record else None)
