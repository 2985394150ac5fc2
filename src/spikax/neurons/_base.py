r"""Threshold neurons: charge, fire at a threshold, reset, and the spikes' effect on the other variables.

:class:`AbstractSpikingNeuron` implements the fire and reset stages of :class:`spikax.AbstractNeuron`
once, for every model that spikes when a membrane potential ``v`` crosses a threshold:

1. **charge**  $h = f(c, s_{t-1}, x_t)$: every state variable after one step of the dynamics
   (``h.v`` is the membrane potential $H_t$ before the reset);
2. **fire**    $S_t = \Theta(H_t - \vartheta)$ through the surrogate ``spike_fn``
   (:mod:`spikax.surrogate`), with $\vartheta$ = ``threshold(c, h)`` (fixed, or adaptive);
3. **reset**   ``v`` by the one rule of the library (:func:`reset`): subtract the threshold
   when the parameters' ``v_reset`` is ``None``, else set it to ``v_reset``; then
   ``on_spike(c, h, S)`` updates the other variables (an adaptation current jumps, ...).
   ``detach_reset=True`` stops the gradient through $S$ in this stage.

A model is a final subclass that names its four pure stage functions, each with one signature
across the library: ``derive(params, dt)``, ``charge(coeffs, state, x)``,
``threshold(coeffs, h)`` and ``on_spike(coeffs, h, s)``. :class:`Neuron` builds one from a
one-line membrane update.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, PyTree

from .._adjoint import AbstractAdjoint, DirectAdjoint
from .._types import AbstractNeuron, AbstractSurrogate, Key
from .._validate import as_param, check_choice, check_dt, check_input, is_concrete
from ..surrogate import FIRE_AT, FastSigmoid

__all__ = [
    "AbstractParamsCoeffs",
    "AbstractSpikingNeuron",
    "Neuron",
    "NeuronState",
    "fire",
    "fixed_threshold",
    "no_jump",
    "reset",
]


class NeuronState(eqx.Module):
    """State of a one-variable neuron: the membrane potential ``v`` (neuron shape)."""

    v: Array


def fire(spike_fn: AbstractSurrogate, h: Array, v_threshold: ArrayLike, fire_at: str = ">=") -> Array:
    r"""$S = \Theta(H - V_{th})$ through the surrogate ``spike_fn``.

    A membrane that became NaN or inf (an unstable step from finite inputs: dt too large for an
    exponential or quadratic term) would otherwise just stop firing: $0 \cdot H$ turns the spike
    NaN there, so it shows in the output (exactly $S$ elsewhere, zero gradient).
    """
    return spike_fn(h, v_threshold, fire_at) + lax.stop_gradient(0.0 * h)


def reset(h: Array, s: Array, v_threshold: ArrayLike, v_reset: Optional[ArrayLike]) -> Array:
    r"""The membrane potential after firing.

    - ``v_reset is None`` (subtractive): $V = H - S\,V_{th}$; with several events per step
      ($S > 1$) this removes one threshold per event.
    - otherwise (to ``v_reset``): $V = H\,(1 - \hat S) + V_{reset}\,\hat S$ with
      $\hat S = \min(S, 1)$ in value; $\hat S$ passes the gradient of $S$ unchanged
      (straight-through), so for binary spikes this is exactly SpikingJelly's hard reset.
    """
    if v_reset is None:
        return h - s * v_threshold
    fired = s + lax.stop_gradient(jnp.minimum(s, 1.0) - s)
    return h * (1.0 - fired) + v_reset * fired


def fixed_threshold(coeffs: Any, h: Any) -> ArrayLike:
    """The threshold stage of a model with a constant threshold: ``coeffs.v_threshold``."""
    return coeffs.v_threshold


def no_jump(coeffs: Any, h: Any, s: Array) -> Any:
    """The on-spike stage of a model whose only reaction to a spike is the reset of ``v``."""
    return h


class AbstractParamsCoeffs(eqx.Module):
    """Coefficients that carry the parameters along: the threshold and reset are the parameters'."""

    params: eqx.AbstractVar[Any]

    @property
    def v_threshold(self) -> ArrayLike:
        return self.params.v_threshold

    @property
    def v_reset(self) -> Optional[ArrayLike]:
        return self.params.v_reset


class NeuronCoeffs(AbstractParamsCoeffs):
    """The coefficients of :class:`Neuron`: its parameters and the step."""

    params: Any
    dt: float = eqx.field(static=True)


class SpikingConfig(NamedTuple):
    """The configuration fields every threshold neuron declares, checked by :func:`configure`."""

    dt: float
    spike_fn: AbstractSurrogate
    fire_at: str
    detach_reset: bool
    adjoint: AbstractAdjoint


def configure(
    *,
    dt,
    spike_fn: Optional[AbstractSurrogate],
    default_spike_fn: Callable[[], AbstractSurrogate],
    fire_at: str,
    detach_reset: bool,
    adjoint: Optional[AbstractAdjoint],
) -> "SpikingConfig":
    """The checked configuration fields of a threshold neuron (for its ``__init__``)."""
    check_choice("fire_at", fire_at, FIRE_AT)
    spike_fn = default_spike_fn() if spike_fn is None else spike_fn
    if not isinstance(spike_fn, AbstractSurrogate):
        raise TypeError(
            f"`spike_fn` must be a spikax.surrogate module (e.g. sx.surrogate.FastSigmoid()), "
            f"got {type(spike_fn).__name__}"
        )
    adjoint = DirectAdjoint() if adjoint is None else adjoint
    if not isinstance(adjoint, AbstractAdjoint):
        raise TypeError(f"`adjoint` must be a spikax adjoint (e.g. sx.RecomputeAdjoint()), got {adjoint!r}")
    return SpikingConfig(check_dt(dt), spike_fn, fire_at, bool(detach_reset), adjoint)


def sequence(xs, name: str, tail: Optional[tuple[int, ...]] = None, *, what: str = "", dtype=None) -> Array:
    """A float input sequence ``(T, ...)`` (``(T, *tail)`` when ``tail`` is given), checked.

    Integer inputs (spike counts) are cast to ``dtype`` (default float).
    """
    xs = jnp.asarray(xs)
    if xs.ndim < 1:
        raise ValueError(f"`{name}` must have a leading time axis (T, ...), got a scalar")
    if tail is not None:
        check_input(name, xs, tail, what=what)
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        xs = xs.astype(jnp.result_type(float) if dtype is None else dtype)
    return xs


def per_step_coefficients(coeffs: Any, **values) -> Any:
    """Time-varying coefficients in the layout :meth:`spikax.AbstractNeuron.prepare` returns.

    A copy of ``coeffs`` with every leaf ``None`` except the fields in ``values`` (each with a
    leading time axis); the loop fills the rest from ``coeffs`` with ``eqx.combine``.
    """
    blank = jax.tree.map(lambda _: None, coeffs)
    names = tuple(values)
    fields = lambda c: tuple(getattr(c, n) for n in names)  # noqa: E731
    return eqx.tree_at(fields, blank, tuple(values[n] for n in names), is_leaf=lambda x: x is None)


def check_params(model: str, params, expected) -> None:
    """``params`` must be an instance of ``expected`` (a Params class or a tuple of them); a
    threshold neuron's ``v_threshold`` must lie above its rest (:func:`check_threshold_above_rest`)."""
    if not isinstance(params, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise TypeError(
            f"`params` must be {names} ({model}.create builds them from values), got {type(params).__name__}"
        )
    fields = params.__dataclass_fields__
    if "v_threshold" in fields and "v_reset" in fields and params.v_threshold is not None:
        check_threshold_above_rest(params)


def check_step_shape(model_name: str, n_neurons: int, input_shape) -> None:
    """An input step of a population of ``n_neurons`` neurons must be ``(n_neurons,)``."""
    if input_shape is not None and tuple(input_shape) != (n_neurons,):
        raise ValueError(f"{model_name} input steps must have shape ({n_neurons},), got {tuple(input_shape)}")


def optional_param(name: str, value, **kw) -> Optional[Array]:
    """``None`` stays ``None`` (e.g. ``v_reset=None``: subtractive reset); anything else is a parameter."""
    return None if value is None else as_param(name, value, **kw)


def check_above(upper_name: str, upper, lower_name: str, lower, why: str = "") -> None:
    """``upper > lower`` everywhere (concrete values only), or a clear error naming both."""
    if is_concrete(upper) and is_concrete(lower) and not bool(np.all(np.asarray(upper) > np.asarray(lower))):
        raise ValueError(
            f"`{upper_name}` must be above `{lower_name}`{why}, got "
            f"{upper_name} = {np.asarray(upper).min():.4g} and {lower_name} = {np.asarray(lower).max():.4g}"
        )


def check_param_shapes(params, names) -> tuple[int, ...]:
    """The parameters ``names`` of ``params`` must broadcast together (to the neurons' shape).

    Returns the common shape; raises a ``ValueError`` naming the first parameter that does not
    fit the ones before it (at construction, not deep inside the first call).
    """
    shape: tuple[int, ...] = ()
    seen = []
    for name in names:
        value = getattr(params, name)
        if value is None:
            continue
        try:
            shape = jnp.broadcast_shapes(shape, jnp.shape(value))
        except ValueError:
            raise ValueError(
                f"`{name}` has shape {jnp.shape(value)}, which does not broadcast with "
                f"{', '.join(seen)} (shape {shape}): give each parameter as a scalar or per neuron"
            ) from None
        seen.append(f"`{name}`")
    return shape


def check_threshold_above_rest(params) -> None:
    """``v_threshold`` above where the neuron rests and resets (``v_reset``; 0 under the
    subtractive reset), else it fires on every step with no input."""
    why = " (else the neuron fires on every step at rest)"
    if params.v_reset is not None:
        check_above("v_threshold", params.v_threshold, "v_reset", params.v_reset, why)
    elif is_concrete(params.v_threshold) and not bool(np.all(np.asarray(params.v_threshold) > 0)):
        raise ValueError(
            f"`v_threshold` must be > 0 under the subtractive reset (v_reset=None: the neuron rests at 0){why}, "
            f"got {np.asarray(params.v_threshold).min():.4g}"
        )


class AbstractSpikingNeuron(AbstractNeuron):
    r"""A neuron that fires when its membrane potential ``v`` crosses a threshold.

    Implements :meth:`fire`, :meth:`reset` and :meth:`observe` of :class:`spikax.AbstractNeuron`
    (see the module docstring); a final subclass provides ``params`` (with a field ``v_reset``,
    ``None`` for the subtractive reset), :meth:`init_state`, :meth:`prepare`, and the stages
    :meth:`derive`, :meth:`charge`, :meth:`threshold` and :meth:`on_spike`. Its coefficients
    carry ``v_reset``; its state's potential is the field ``v``.

    Besides ``params``, ``dt`` and ``adjoint``, a final subclass declares (following Equinox's
    rule, every field in the final class) ``spike_fn`` (the surrogate), ``fire_at`` (``">="``:
    $\Theta(0) = 1$, or ``">"``) and ``detach_reset``; :func:`configure` checks their values.
    """

    spike_fn: eqx.AbstractVar[AbstractSurrogate]
    fire_at: eqx.AbstractVar[str]
    detach_reset: eqx.AbstractVar[bool]

    @abc.abstractmethod
    def threshold(self, coeffs: Any, h: Any) -> Array:
        """The firing threshold $\\vartheta$ for the charged state ``h``."""

    @abc.abstractmethod
    def on_spike(self, coeffs: Any, h: Any, s: Array) -> Any:
        """The state's other variables after spikes ``s`` (``v`` is reset separately)."""

    def fire(self, coeffs, h):
        return fire(self.spike_fn, h.v, self.threshold(coeffs, h), self.fire_at)

    def reset(self, coeffs, h, s):
        if self.detach_reset:
            s = lax.stop_gradient(s)
        v = reset(h.v, s, self.threshold(coeffs, h), coeffs.v_reset)
        return eqx.tree_at(lambda st: st.v, self.on_spike(coeffs, h, s), v)

    def observe(self, coeffs, state, y):
        return {}


class Neuron(AbstractSpikingNeuron):
    r"""A spiking neuron from a one-line membrane update: $H = f(p, V, X, dt)$, then fire and reset.

    Write only the dynamics; threshold, surrogate, reset and the loop are shared::

        class QIFParams(eqx.Module):
            tau: Array; v_threshold: Array; v_reset: Array

        def qif_update(p, v, x, dt):
            return v + dt / p.tau * (v * v + x)

        neuron = sx.Neuron(qif_update, QIFParams(10e-3, 1.0, -1.0), dt=1e-4)

    The state starts at ``v_reset`` (0 under the subtractive reset) and takes the shape of the
    input broadcast with ``v_threshold``. ``update`` is adapted to the library's stages: the
    coefficients are ``params`` with ``dt`` (:class:`NeuronCoeffs`) and the charge is
    ``NeuronState(v=update(params, v, x, dt))``.

    **Arguments:**

    - ``update``: ``update(params, v, x, dt) -> h``, pure, elementwise over neurons.
    - ``params``: a PyTree with fields ``v_threshold`` and ``v_reset`` (``None`` for the
      subtractive reset) plus whatever ``update`` reads.
    - ``dt``: step in s. ``spike_fn``: a surrogate (default ``FastSigmoid(25)``).
    - ``fire_at``: ``">="`` ($\Theta(0) = 1$; default) or ``">"`` (NIR and Norse).
    - ``detach_reset``: stop the reset's gradient. ``adjoint``: see :mod:`spikax._adjoint`.
    """

    update: Callable = eqx.field(static=True)
    params: Any
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        update: Callable,
        params: PyTree,
        *,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        fire_at: str = ">=",
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        if not callable(update):
            raise TypeError(f"`update` must be a function (params, v, x, dt) -> h, got {update!r}")
        for name in ("v_threshold", "v_reset"):
            try:
                getattr(params, name)
            except AttributeError:
                raise TypeError(
                    f"`params` must have a field `{name}` (use v_reset=None for the subtractive reset), "
                    f"got {type(params).__name__} without it"
                ) from None
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=FastSigmoid, fire_at=fire_at,
            detach_reset=detach_reset, adjoint=adjoint,
        )
        self.update = update
        self.params = params

    def init_state(self, input_shape=None) -> NeuronState:
        return one_variable_state(self.params, () if input_shape is None else input_shape)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    def derive(self, params, dt):
        return NeuronCoeffs(params=params, dt=dt)

    def charge(self, coeffs, state, x):
        return NeuronState(v=self.update(coeffs.params, state.v, x, coeffs.dt))

    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(no_jump)


def one_variable_state(params, input_shape, v0=None) -> NeuronState:
    """The state of a one-variable neuron: ``v0`` (default ``v_reset``, 0 under the subtractive
    reset) broadcast to the input step's shape and the parameters' shapes."""
    if v0 is None:
        v0 = jnp.zeros((), jnp.result_type(float)) if params.v_reset is None else params.v_reset
    shape = jnp.broadcast_shapes(tuple(input_shape), jnp.shape(v0), jnp.shape(params.v_threshold))
    return NeuronState(v=jnp.broadcast_to(v0, shape).astype(jnp.result_type(float)))
