r"""Charge, fire, reset: the shape of every spiking step, and the loop every neuron runs in.

A spiking neuron step is three parts (SpikingJelly's decomposition, Fang et al. 2023,
doi:10.1126/sciadv.adi1480):

1. **charge**  $H_t = f(V_{t-1}, X_t)$, the model's own dynamics;
2. **fire**    $S_t = \Theta(H_t - V_{th})$, a surrogate spike function (:mod:`spikax.surrogate`);
3. **reset**   $V_t = H_t - S_t V_{th}$ (``v_reset=None``, soft) or
   $V_t = H_t (1 - S_t) + V_{reset} S_t$ (hard), optionally with the reset's gradient detached.

:class:`AbstractChargeFireReset` implements 2 and 3 and the time loop once; a model is a final
subclass that writes its charge. :class:`Neuron` takes the charge as a plain function, for models
defined in a few lines.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Optional

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, PyTree

from .._types import AbstractNeuron, AbstractSurrogate, Key, RecordSpec
from .._validate import check_choice, check_dt, check_input
from ..simulate import simulate, state_fields
from ..surrogate import FIRE_AT

__all__ = [
    "AbstractChargeFireReset",
    "AbstractSpikingNeuron",
    "Neuron",
    "NeuronState",
    "fire",
    "record_function",
    "reset",
    "run_neuron",
]


class NeuronState(eqx.Module):
    """State of a one-variable neuron: the membrane potential ``v`` (neuron shape)."""

    v: Array


def fire(spike_fn: AbstractSurrogate, h: Array, v_threshold, fire_at: str = ">=") -> Array:
    r"""$S = \Theta(H - V_{th})$ through the surrogate ``spike_fn``."""
    return spike_fn(h, v_threshold, fire_at)


def reset(h: Array, s: Array, v_threshold, v_reset: Optional[Array], *, detach: bool = False) -> Array:
    r"""Reset after firing.

    - ``v_reset is None`` (soft / subtractive): $V = H - S\,V_{th}$; with several events per
      step ($S > 1$) this removes one threshold per event.
    - otherwise (hard): $V = H\,(1 - \hat S) + V_{reset}\,\hat S$ with $\hat S = \min(S, 1)$ in
      value; $\hat S$ passes the gradient of $S$ unchanged (straight-through), so for binary
      spikes this is exactly SpikingJelly's hard reset.

    ``detach=True`` stops the gradient through $S$ in the reset (SpikingJelly's
    ``detach_reset``; Zenke & Vogels 2021, doi:10.1162/neco_a_01367, found it often helps).
    """
    if detach:
        s = lax.stop_gradient(s)
    if v_reset is None:
        return h - s * v_threshold
    fired = s + lax.stop_gradient(jnp.minimum(s, 1.0) - s)
    return h * (1.0 - fired) + v_reset * fired


def record_function(record: RecordSpec) -> Optional[Callable[[Any, Any], PyTree]]:
    """Turn a model's ``record=`` argument into a ``simulate`` record function."""
    if record is True:
        return lambda state, y: state_fields(state)
    if record is False or record is None:
        return None
    if callable(record):
        return record
    raise TypeError(f"`record` must be True, False or a function (state, output) -> PyTree, got {record!r}")


def run_neuron(
    cell: AbstractNeuron, xs: Array, state: PyTree = None, *, key: Key = None, record: RecordSpec = False
) -> tuple[Array, PyTree, PyTree]:
    """The generic whole-sequence call of a neuron: ``prepare`` once, ``advance`` in the scan."""
    xs = jnp.asarray(xs)
    if xs.ndim < 1:
        raise ValueError(f"`xs` must have a leading time axis (T, ...), got a scalar of shape {xs.shape}")
    coeffs, extras = cell.prepare(xs, key)
    if state is None:
        state = cell.init_state(xs.shape[1:])

    def step(st, inputs):
        x, extra = inputs
        return cell.advance(coeffs, st, x, extra)

    return simulate(step, state, (xs, extras), record=record_function(record))


class AbstractChargeFireReset(AbstractNeuron):
    """A one-variable spiking neuron: implement ``charge``; fire, reset and the loop are here.

    Subclasses provide the fields below and :meth:`charge`. ``params`` must have the fields
    ``v_threshold`` and ``v_reset`` (``None`` for soft reset) besides what the charge uses.
    The state takes the shape of the input broadcast with the parameters.
    """

    params: eqx.AbstractVar[Any]
    spike_fn: eqx.AbstractVar[AbstractSurrogate]
    dt: eqx.AbstractVar[float]
    fire_at: eqx.AbstractVar[str]
    detach_reset: eqx.AbstractVar[bool]

    @abc.abstractmethod
    def charge(self, v: Array, x: Array) -> Array:
        """$H_t = f(V_{t-1}, X_t)$: the membrane potential after one step of the dynamics."""

    def initial_v(self) -> Array:
        """The potential every neuron starts from: ``v_reset`` (0 under soft reset)."""
        v_reset = self.params.v_reset
        return jnp.zeros((), jnp.result_type(float)) if v_reset is None else v_reset

    def init_state(self, input_shape: tuple[int, ...]) -> NeuronState:
        v0 = self.initial_v()
        shape = jnp.broadcast_shapes(tuple(input_shape), jnp.shape(v0), jnp.shape(self.params.v_threshold))
        return NeuronState(v=jnp.broadcast_to(v0, shape).astype(jnp.result_type(float)))

    def prepare(self, xs: Array, key: Key) -> tuple[None, None]:
        return None, None

    def advance(self, coeffs, state: NeuronState, x: Array, extra) -> tuple[NeuronState, Array]:
        h = self.charge(state.v, x)
        s, v = fire_and_reset(self, h, self.params.v_threshold, self.params.v_reset)
        return NeuronState(v=v), s

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs`` ``(T, ...)``: returns ``(spikes (T, ...), final NeuronState, record)``."""
        return run_neuron(self, xs, state, key=key, record=record)


def fire_and_reset(model, h: Array, v_threshold, v_reset) -> tuple[Array, Array]:
    """Steps 2 and 3 with a model's ``spike_fn``, ``fire_at`` and ``detach_reset``: ``(S, V)``."""
    s = fire(model.spike_fn, h, v_threshold, model.fire_at)
    return s, reset(h, s, v_threshold, v_reset, detach=model.detach_reset)


class AbstractSpikingNeuron(AbstractNeuron):
    r"""A spiking neuron with several state variables (``v`` plus adaptation, synaptic current, ...).

    The same three parts as :class:`AbstractChargeFireReset`, over a named state:

    1. :meth:`charge` advances *every* variable one step; the returned state's ``v`` is $H_t$;
    2. fire $S_t = \Theta(H_t - \vartheta)$ with $\vartheta$ = :meth:`threshold` (constant,
       or adaptive as in :class:`spikax.ALIF`);
    3. reset ``v`` (soft or to ``v_reset``, see :func:`reset`), then :meth:`on_spike` lets the
       other variables react (e.g. the adaptation current jumps, $w \mathrel{+}= b\,S$).

    A model is a final subclass with a state class (field ``v`` first), :meth:`init_state`,
    :meth:`charge` and, where needed, :meth:`derive` (loop invariants, computed once per
    sequence), :meth:`threshold` and :meth:`on_spike`. Its ``params`` carry ``v_threshold``
    (unless :meth:`threshold` is overridden) and ``v_reset`` (``None``: subtract the threshold).
    """

    params: eqx.AbstractVar[Any]
    spike_fn: eqx.AbstractVar[AbstractSurrogate]
    dt: eqx.AbstractVar[float]
    fire_at: eqx.AbstractVar[str]
    detach_reset: eqx.AbstractVar[bool]

    def derive(self) -> Any:
        """Loop invariants (e.g. ``dt/tau``); by default the parameters themselves."""
        return self.params

    @abc.abstractmethod
    def charge(self, coeffs: Any, state: Any, x: Array) -> Any:
        """Every state variable after one step of the sub-threshold dynamics (``v`` = $H_t$)."""

    def threshold(self, coeffs: Any, h: Any) -> Array:
        """The firing threshold for the charged state ``h``."""
        return coeffs.v_threshold

    def on_spike(self, coeffs: Any, h: Any, s: Array) -> Any:
        """The state's other variables after spikes ``s`` (``v`` is reset separately)."""
        return h

    def check_input(self, xs: Array) -> None:
        """Raise a clear error for an input sequence the model cannot take."""

    def prepare(self, xs: Array, key: Key) -> tuple[Any, None]:
        self.check_input(xs)
        return self.derive(), None

    def advance(self, coeffs, state, x: Array, extra) -> tuple[Any, Array]:
        h = self.charge(coeffs, state, x)
        threshold = self.threshold(coeffs, h)
        s, v = fire_and_reset(self, h.v, threshold, coeffs.v_reset)
        after = self.on_spike(coeffs, h, lax.stop_gradient(s) if self.detach_reset else s)
        return eqx.tree_at(lambda st: st.v, after, v), s

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs`` ``(T, ...)``: returns ``(spikes (T, ...), final state, record)``."""
        return run_neuron(self, xs, state, key=key, record=record)


def check_neuron_input(name: str, xs, n_neurons: int, what: str = "n_neurons") -> None:
    """``xs`` must be ``(T, n_neurons)``."""
    check_input(name, xs, (n_neurons,), what=what)


def check_step_shape(model, input_shape) -> None:
    """An input step of a population of ``model.n_neurons`` neurons must be ``(n_neurons,)``."""
    if input_shape is not None and tuple(input_shape) != (model.n_neurons,):
        raise ValueError(
            f"{type(model).__name__} input steps must have shape ({model.n_neurons},), got {tuple(input_shape)}"
        )


def check_cfr_config(fire_at: str, spike_fn, dt) -> float:
    check_choice("fire_at", fire_at, FIRE_AT)
    if not isinstance(spike_fn, AbstractSurrogate):
        raise TypeError(
            f"`spike_fn` must be a spikax.surrogate module (e.g. sx.surrogate.FastSigmoid()), "
            f"got {type(spike_fn).__name__}"
        )
    return check_dt(dt)


class Neuron(AbstractChargeFireReset):
    r"""A spiking neuron from a charge function: $H = \text{charge}(p, V, X, dt)$, then fire and reset.

    Write only the dynamics; threshold, surrogate, reset and the loop are shared::

        class QIFParams(eqx.Module):
            tau: Array; v_threshold: Array; v_reset: Array

        def qif_charge(p, v, x, dt):
            return v + dt / p.tau * (v * v + x)

        neuron = sx.Neuron(qif_charge, QIFParams(10e-3, 1.0, -1.0), dt=1e-4)

    **Arguments:**

    - ``charge``: ``charge(params, v, x, dt) -> h``, pure, elementwise over neurons.
    - ``params``: a PyTree with fields ``v_threshold`` and ``v_reset`` (``None`` for soft reset)
      plus whatever ``charge`` reads.
    - ``dt``: step in s. ``spike_fn``: a surrogate (default ``FastSigmoid(25)``).
    - ``fire_at``: ``">="`` ($\Theta(0) = 1$) or ``">"`` (NIR / Norse).
    - ``detach_reset``: stop the reset's gradient.
    """

    charge_fn: Callable = eqx.field(static=True)
    params: Any
    spike_fn: AbstractSurrogate
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(self, charge, params, *, dt=1e-3, spike_fn=None, fire_at=">=", detach_reset=False):
        from ..surrogate import FastSigmoid

        if not callable(charge):
            raise TypeError(f"`charge` must be a function (params, v, x, dt) -> h, got {charge!r}")
        for name in ("v_threshold", "v_reset"):
            if not hasattr(params, name):
                raise TypeError(
                    f"`params` must have a field `{name}` (use v_reset=None for soft reset), "
                    f"got {type(params).__name__} without it"
                )
        spike_fn = FastSigmoid() if spike_fn is None else spike_fn
        self.dt = check_cfr_config(fire_at, spike_fn, dt)
        self.charge_fn = charge
        self.params = params
        self.spike_fn = spike_fn
        self.fire_at = fire_at
        self.detach_reset = bool(detach_reset)

    def charge(self, v, x):
        return self.charge_fn(self.params, v, x, self.dt)
