"""``DynapSim``: a thin module over the DYNAP-SE2 dynamics, and a synapse-aware input layer."""

from __future__ import annotations

import math
import warnings
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..._types import AbstractNeuron, AbstractSurrogate
from ..._validate import as_param, check_choice, check_dt, check_input, is_concrete
from ...neurons._base import record_function
from ...simulate import simulate
from ._circuit import SYNAPSES, DynapseParams
from ._dynamics import Solves, DynapseState, dynapse_derive, dynapse_init_state, dynapse_step, vmem_from_imem

__all__ = ["DynapSim", "DynapSimState", "DynapseLinear"]

METHODS = ("heun", "rk4", "euler")
ADJOINTS = ("replay", "recompute")


class DynapSimState(eqx.Module):
    """State of :class:`DynapSim`: the neurons' circuit state and their last spikes."""

    neurons: DynapseState
    spikes: Float[Array, " n"]
    """Spikes of the last step (they arrive through ``w_rec`` at the start of the next)."""


def _check_nonnegative(name: str, value) -> None:
    if is_concrete(value):
        a = np.asarray(value)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"`{name}` must be finite (it contains NaN or inf)")
        if np.any(a < 0):
            raise ValueError(
                f"`{name}` must be >= 0 (weighted spike counts; inhibition is a synapse type, GABA or "
                f"SHUNT, not a negative weight), got a minimum of {a.min():.4g}"
            )


class DynapSim(AbstractNeuron):
    r"""DYNAP-SE2 neurons: four DPI synapses, AHP, the DPI membrane, refractory period.

    The dynamics and their integration are documented in :mod:`spikax.devices.dynapse._dynamics`.

    **Arguments:**

    - ``n_neurons``: number of neurons.
    - ``dt``: step (s, default 1 ms); at most one spike per step, so ``dt <= t_ref`` (a warning
      says otherwise).
    - ``w_rec``: recurrent weights ``(n_neurons, n_neurons, 4)``, ``w_rec[pre, post, s] >= 0``:
      a spike of ``pre`` in step k arrives at synapse ``s`` of ``post`` at the start of step k+1.
    - ``method``: ``"heun"`` (default), ``"rk4"`` or ``"euler"`` (for comparison only: at 1 ms
      it misses the firing rate by up to 14 %).
    - ``spike_fn``: surrogate; ``None`` is the DYNAP-SE tutorial's ReLU-like derivative,
      $[I_{mem} > I_{reset}]/I_{spkthr}$; any :mod:`spikax.surrogate` family works on
      $\ln(I_{mem}/I_o)$ instead.
    - ``multi_spike``: report $\lceil\ln(I_{mem}/I_{spkthr})\rceil$ events (clipped to
      ``max_spikes_per_dt``) at the end of a step, a training aid of the DYNAP-SE tutorial;
      the default reports the chip's single event at the located crossing.
    - ``adjoint``: how reverse mode gets a step's intermediates. ``"replay"`` (default): the
      forward pass keeps the solved membrane currents and spike times and the backward pass
      re-runs the rest of the step from them (reverse mode only: ``jax.grad``, ``jax.vjp``).
      ``"recompute"``: ``jax.checkpoint`` per step, which also supports forward mode
      (``jax.jvp``) at a higher cost.
    - ``params``: a :class:`DynapseParams`; otherwise the defaults with ``**overrides`` (any
      parameter by name, scalar or per-neuron array).

    Input ``xs``: ``(T, n_neurons, 4)``, weighted spike counts >= 0 per synapse (AMPA, NMDA,
    GABA, SHUNT); a unit input sets the weight current ``Iscale``. Output: spikes
    ``(T, n_neurons)``. ``record=True`` returns ``imem``, ``vmem``, ``iampa``, ``inmda``, ``igaba``,
    ``ishunt``, ``iahp`` (A and V, time first) and ``spikes``.
    """

    params: DynapseParams
    w_rec: Optional[Float[Array, "n n 4"]]
    spike_fn: Optional[AbstractSurrogate]
    dt: float = eqx.field(static=True)
    method: str = eqx.field(static=True)
    multi_spike: bool = eqx.field(static=True)
    max_spikes_per_dt: float = eqx.field(static=True)
    resume_in_step: bool = eqx.field(static=True)
    adjoint: str = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int,
        *,
        dt: float = 1e-3,
        w_rec: Optional[ArrayLike] = None,
        method: str = "heun",
        spike_fn: Optional[AbstractSurrogate] = None,
        multi_spike: bool = False,
        max_spikes_per_dt: float = 2.0**16,
        adjoint: str = "replay",
        params: Optional[DynapseParams] = None,
        **overrides,
    ):
        self.dt = check_dt(dt)
        check_choice("method", method, METHODS)
        check_choice("adjoint", adjoint, ADJOINTS)
        self.adjoint = adjoint
        if spike_fn is not None and not isinstance(spike_fn, AbstractSurrogate):
            raise TypeError(f"`spike_fn` must be None or a spikax.surrogate module, got {type(spike_fn).__name__}")
        if params is None:
            params = DynapseParams.default(n_neurons, **overrides)
        else:
            if overrides:
                params = params.replace(**overrides)
            if params.n_neurons != n_neurons:
                raise ValueError(f"`params` describe {params.n_neurons} neurons, but `n_neurons` is {n_neurons}")
        if w_rec is not None:
            w_rec = as_param("w_rec", w_rec)
            if w_rec.shape != (n_neurons, n_neurons, 4):
                raise ValueError(
                    f"`w_rec` must have shape (n_neurons, n_neurons, 4) = ({n_neurons}, {n_neurons}, 4) "
                    f"[pre, post, synapse], got {w_rec.shape}"
                )
            _check_nonnegative("w_rec", w_rec)
        concrete = all(is_concrete(getattr(params, k)) for k in ("Vth", "C_ref", "Iref"))
        t_ref = np.asarray(params.Vth * params.C_ref / params.Iref) if concrete else None
        # Integration after a refractory period that ends inside a step is only needed when some
        # t_ref < dt; unknown (traced) parameters keep it on. The tolerance matters: the default
        # t_ref = Vth C_ref / Iref is 0.9999999 ms in float32, and a resumed segment of at most
        # 0.1 ns would cost a second Heun integration in every step.
        short = None if t_ref is None else bool(np.min(t_ref) < self.dt * (1 - 1e-6))
        self.resume_in_step = short is None or short
        if short:
            warnings.warn(
                f"the refractory period ({np.min(t_ref):.3g} s) is shorter than dt ({self.dt:g} s): "
                "a second spike inside one step is reported in the next step; reduce dt",
                UserWarning,
                stacklevel=2,
            )
        self.params = params
        self.w_rec = w_rec
        self.spike_fn = spike_fn
        self.method = method
        self.multi_spike = bool(multi_spike)
        self.max_spikes_per_dt = float(max_spikes_per_dt)

    @property
    def n_neurons(self) -> int:
        return self.params.n_neurons

    def init_state(self, input_shape=None) -> DynapSimState:
        if input_shape is not None and tuple(input_shape) != (self.n_neurons, 4):
            raise ValueError(f"DynapSim input steps must have shape ({self.n_neurons}, 4), got {tuple(input_shape)}")
        return DynapSimState(neurons=dynapse_init_state(self.params), spikes=jnp.zeros_like(self.params.Io))

    def _check_array_input(self, xs) -> None:
        check_input("xs", xs, (self.n_neurons, 4), what="n_neurons x synapses (AMPA, NMDA, GABA, SHUNT)")
        _check_nonnegative("xs", xs)

    def _recurrent_weights(self):
        # One (pre, post) matrix per synapse type, sliced once outside the time loop.
        return None if self.w_rec is None else tuple(self.w_rec[:, :, k] for k in range(4))

    def prepare(self, xs, key):
        self._check_array_input(xs)
        return dynapse_derive(self.params, self.dt), None

    def advance(self, coeffs, state: DynapSimState, x, extra):
        """One step; ``x`` is ``(n_neurons, 4)`` or four ``(n_neurons,)`` arrays (or ``None``)."""
        if not isinstance(x, (tuple, list)):
            x = tuple(x[:, k] for k in range(4))
        return self._advance(coeffs, state, tuple(x), self._recurrent_weights())

    def _advance(self, coeffs, state: DynapSimState, x, w_rec, spike_fn=None, solves=None):
        # x: four (n,) arrays (None: no input), one per synapse type: the layout the dynamics
        # run fastest in. w_rec: four (pre, post) matrices or None.
        if w_rec is not None:
            rec = [state.spikes @ w for w in w_rec]
            x = tuple(r if xk is None else xk + r for xk, r in zip(x, rec))
        neurons, spikes, _ = dynapse_step(
            coeffs,
            state.neurons,
            x,
            dt=self.dt,
            method=self.method,
            spike_fn=self.spike_fn if spike_fn is None else spike_fn,
            multi_spike=self.multi_spike,
            max_spikes_per_dt=self.max_spikes_per_dt,
            resume_in_step=self.resume_in_step,
            solves=solves,
        )
        return DynapSimState(neurons=neurons, spikes=spikes), spikes

    def _replay_step(self, coeffs, w_rec):
        """One step whose VJP replays the forward pass's root solves.

        Reverse mode through a step needs the step's intermediates. Storing all of them (plain
        autodiff) moves too much memory; recomputing the step from its inputs
        (``jax.checkpoint``) repeats the Halley iterations. Here the forward pass keeps only
        what those produced (the solved ``u`` of each stage, two ``(n,)`` arrays per step with
        Heun) besides the step's input state, and the backward pass re-runs the rest of the
        step from them (:class:`Solves`): the same derivatives, less work.
        """

        @jax.custom_vjp
        def step(coeffs, w_rec, spike_fn, st, x):
            return self._advance(coeffs, st, x, w_rec, spike_fn)

        def step_fwd(coeffs, w_rec, spike_fn, st, x):
            solves = Solves()
            out = self._advance(coeffs, st, x, w_rec, spike_fn, solves)
            # Without recurrent weights the last spikes do not enter the step: not stored.
            kept = st.neurons if w_rec is None else st
            return out, (coeffs, w_rec, spike_fn, kept, x, tuple(solves.recorded))

        def step_bwd(res, cotangent):
            coeffs, w_rec, spike_fn, kept, x, recorded = res
            st = DynapSimState(neurons=kept, spikes=jnp.zeros_like(kept.imem)) if w_rec is None else kept

            def replay(coeffs, w_rec, spike_fn, st, x):
                return self._advance(coeffs, st, x, w_rec, spike_fn, Solves(recorded))

            return jax.vjp(replay, coeffs, w_rec, spike_fn, st, x)[1](cotangent)

        step.defvjp(step_fwd, step_bwd)
        return lambda st, x: step(coeffs, w_rec, self.spike_fn, st, x)

    def _split(self, xs) -> tuple:
        """The input as four ``(T, n)`` arrays or ``None`` (checked)."""
        dtype = self.params.Io.dtype
        if isinstance(xs, (tuple, list)):
            if len(xs) != 4:
                raise ValueError(
                    f"a split `xs` must be four (T, n_neurons) arrays or None (AMPA, NMDA, GABA, SHUNT), "
                    f"got {len(xs)} items"
                )
            parts = [None if x is None else jnp.asarray(x) for x in xs]
            present = [x for x in parts if x is not None]
            if not present:
                raise ValueError("a split `xs` needs at least one array to know T")
            for name, x in zip(SYNAPSES, parts):
                if x is not None:
                    check_input(f"xs ({name})", x, (self.n_neurons,))
                    _check_nonnegative("xs", x)
            if len({x.shape[0] for x in present}) != 1:
                raise ValueError("every array of a split `xs` must have the same number of steps T")
            return tuple(None if x is None else x.astype(dtype) for x in parts)
        xs = jnp.asarray(xs)
        self._check_array_input(xs)
        xs = xs.astype(dtype)
        # Split once here (not in every step); a transpose of the whole input is cheap, four
        # stride-4 gathers are not.
        return tuple(jnp.moveaxis(xs, -1, 0))

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs``: ``(spikes (T, n_neurons), DynapSimState, record)``.

        ``xs`` is ``(T, n_neurons, 4)`` or, as :class:`DynapseLinear` returns it, four
        ``(T, n_neurons)`` arrays (AMPA, NMDA, GABA, SHUNT), ``None`` for a synapse type without
        input (it then gets no jump at all).
        """
        split = self._split(xs)
        coeffs, w_rec = dynapse_derive(self.params, self.dt), self._recurrent_weights()
        state = self.init_state() if state is None else state
        if record is True:
            def record_fn(st, y):
                nrn = st.neurons
                return {
                    "imem": nrn.imem,
                    "vmem": vmem_from_imem(coeffs, nrn.imem),
                    **{f"i{name}": getattr(nrn, f"i{name}") for name in SYNAPSES},
                    "iahp": nrn.iahp,
                    "spikes": y,
                }
        else:
            record_fn = record_function(record)
        if self.adjoint == "replay":
            step = self._replay_step(coeffs, w_rec)
        else:
            # Checkpoint each step: the backward pass recomputes a step from its carry instead
            # of storing the ~100 intermediates of the Halley solves and Heun stages.
            step = jax.checkpoint(lambda st, x: self._advance(coeffs, st, x, w_rec), prevent_cse=False)
        return simulate(step, state, split, record=record_fn)


class DynapseLinear(eqx.Module):
    r"""Weights onto the four synapse types: ``(T, n_in)`` spikes to :class:`DynapSim` input.

    The output is the split form of that input: four ``(T, n_out)`` arrays (AMPA, NMDA, GABA,
    SHUNT), ``None`` for a synapse type the weights do not reach; ``jnp.stack`` with ``None``
    replaced by zeros gives the ``(T, n_out, 4)`` array.

    Two forms:

    - signed ``weight`` ``(n_in, n_out)``: positive weights drive the ``excitatory`` synapse
      (``"ampa"`` or ``"nmda"``), negative ones the ``inhibitory`` synapse (``"gaba"``, which
      raises the leak, or ``"shunt"``, which subtracts from the input current) with their
      magnitude: $x_{exc} = x\,\max(W, 0)$, $x_{inh} = x\,\max(-W, 0)$;
    - ``weight`` ``(n_in, n_out, 4)`` >= 0: full control, one weight per synapse type.

    Inputs must be non-negative (spike counts), so the outputs are too.
    """

    weight: Array
    excitatory: str = eqx.field(static=True)
    inhibitory: str = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        key: PRNGKeyArray,
        excitatory: str = "ampa",
        inhibitory: str = "gaba",
        scale: float = 1.0,
    ):
        if key is None:
            raise ValueError("`key` is required to initialise weights (jax.random.key(seed))")
        bound = scale / math.sqrt(in_features)
        weight = jax.random.uniform(key, (in_features, out_features), jnp.result_type(float), -bound, bound)
        self._set(weight, excitatory, inhibitory)

    def _set(self, weight, excitatory, inhibitory):
        check_choice("excitatory", excitatory, ("ampa", "nmda"))
        check_choice("inhibitory", inhibitory, ("gaba", "shunt"))
        if weight.ndim == 3:
            if weight.shape[-1] != 4:
                raise ValueError(f"a 3-D `weight` must be (n_in, n_out, 4), got {weight.shape}")
            _check_nonnegative("weight", weight)
        elif weight.ndim != 2:
            raise ValueError(f"`weight` must be (n_in, n_out) signed or (n_in, n_out, 4), got shape {weight.shape}")
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "excitatory", excitatory)
        object.__setattr__(self, "inhibitory", inhibitory)

    @classmethod
    def from_weights(cls, weight: ArrayLike, *, excitatory: str = "ampa", inhibitory: str = "gaba") -> "DynapseLinear":
        self = object.__new__(cls)
        self._set(as_param("weight", weight), excitatory, inhibitory)
        return self

    @property
    def in_features(self) -> int:
        return self.weight.shape[0]

    def to_synapses(self) -> Float[Array, "n_in n_out 4"]:
        """The weights per synapse type, ``(n_in, n_out, 4)``, all >= 0."""
        if self.weight.ndim == 3:
            return self.weight
        w = jnp.zeros(self.weight.shape + (4,), self.weight.dtype)
        w = w.at[..., SYNAPSES.index(self.excitatory)].set(jnp.maximum(self.weight, 0.0))
        return w.at[..., SYNAPSES.index(self.inhibitory)].set(jnp.maximum(-self.weight, 0.0))

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs, state=None, *, key=None, record=False):
        xs = jnp.asarray(xs)
        if xs.ndim < 1 or xs.shape[-1] != self.in_features:
            raise ValueError(f"`xs` must end with in_features = {self.in_features} channels, got shape {xs.shape}")
        _check_nonnegative("xs", xs)
        if self.weight.ndim == 3:
            ys = tuple(xs @ self.weight[:, :, k] for k in range(4))
        else:
            # Two products (excitatory, inhibitory); the other two synapse types get None (no
            # input at all), not arrays of zeros.
            planes = [None] * 4
            planes[SYNAPSES.index(self.excitatory)] = xs @ jnp.maximum(self.weight, 0.0)
            planes[SYNAPSES.index(self.inhibitory)] = xs @ jnp.maximum(-self.weight, 0.0)
            ys = tuple(planes)
        return ys, None, ({} if record else None)
