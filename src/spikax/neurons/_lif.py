r"""Current-based leaky integrate-and-fire neuron with several synapses (Rockpool ``LIFJax`` semantics)."""

from __future__ import annotations

import math
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._adjoint import AbstractAdjoint, FusedAdjoint, register_sequence_kernel
from .._types import AbstractSurrogate, Key, ParamLike
from .._validate import as_param, check_count, check_time_constant, is_concrete
from ..surrogate import DEFAULT_MAX_SPIKES_PER_DT, MultiSpike
from ._base import (
    check_params,
    AbstractSpikingNeuron,
    configure,
    fixed_threshold,
    no_jump,
    optional_param,
    per_step_coefficients,
    sequence,
)
from ._lif_kernel import lif_sequence

__all__ = ["LIF", "LIFCoeffs", "LIFParams", "LIFState", "lif_charge", "lif_derive"]



class LIFParams(eqx.Module):
    """Parameters of :class:`LIF` (SI units)."""

    tau_mem: Float[ArrayLike, " neurons"]
    """Membrane time constant (s), > 0."""
    tau_syn: Optional[Float[ArrayLike, "neurons synapses"]]
    """Synaptic time constant of each synapse of each neuron (s), > 0; ``None`` for a
    membrane-only LIF (no synaptic current: the input is added to the membrane directly)."""
    bias: Float[ArrayLike, " neurons"]
    """Constant added to the membrane potential every step (units of v per step)."""
    v_threshold: Float[ArrayLike, " neurons"]
    """Firing threshold (units of v), > 0."""
    v_reset: Optional[Float[ArrayLike, " neurons"]] = None
    """``None``: each event removes one threshold (subtractive reset); else the potential after
    a spike."""
    noise_std: Optional[Float[ArrayLike, "..."]] = None
    r"""Membrane noise $\sigma$ in units of v per $\sqrt{s}$ (``None``: no noise; calls then need
    no ``key``)."""


class LIFState(eqx.Module):
    """State of :class:`LIF`."""

    v: Float[Array, " neurons"]
    """Membrane potential after the last step's reset."""
    i_syn: Optional[Float[Array, " channels"]]
    """Synaptic currents after the last step's decay, in input-channel order: entry
    ``n * n_synapses + s`` is synapse ``s`` of neuron ``n`` (``.reshape(n_neurons, n_synapses)``
    for the matrix). Flat on purpose: a trailing size-1 axis slows XLA's loop down by half.
    ``None`` for a membrane-only LIF."""
    step: Optional[Int[Array, ""]] = None
    """Steps run so far, counted only when the model draws noise (else ``None``): step ``t``'s
    noise is drawn from ``fold_in(key, t)``, so a run continued from this state with the same
    key goes on with the noise the unsplit run would have drawn."""


class LIFCoeffs(eqx.Module):
    """Loop invariants of :class:`LIF` (:func:`lif_derive`) and the step's membrane noise."""

    alpha: Float[ArrayLike, " neurons"]
    beta: Optional[Float[ArrayLike, " channels"]]
    bias: Float[ArrayLike, " neurons"]
    v_threshold: Float[ArrayLike, " neurons"]
    v_reset: Optional[Float[ArrayLike, " neurons"]]
    noise_scale: Optional[Float[ArrayLike, "..."]] = None
    r"""$\sigma\sqrt{dt}$ (``None`` without noise)."""
    noise_key: Optional[Array] = None
    """The call's key: a time-varying coefficient of :meth:`spikax.AbstractNeuron.prepare` (the
    same key in every step; the step index in the state picks each step's draw)."""


def lif_derive(params: LIFParams, dt: float) -> LIFCoeffs:
    r"""Decay factors $\alpha = e^{-dt/\tau_{mem}}$, $\beta = e^{-dt/\tau_{syn}}$ (flat, input-channel
    order; ``None`` for a membrane-only LIF)."""
    return LIFCoeffs(
        alpha=jnp.exp(-dt / params.tau_mem),
        beta=None if params.tau_syn is None else jnp.exp(-dt / params.tau_syn).reshape(-1),
        bias=params.bias,
        v_threshold=params.v_threshold,
        v_reset=params.v_reset,
        noise_scale=None if params.noise_std is None else params.noise_std * math.sqrt(dt),
    )


def lif_charge(coeffs: LIFCoeffs, state: LIFState, x: Float[Array, " channels"]) -> LIFState:
    r"""The LIF's charge: synapses take the input and decay, the membrane decays and integrates.

    With $I$ and $x_t$ indexed by (neuron, synapse) in input-channel order:

    $$I_t = \beta \odot (I_{t-1} + x_t),\qquad
    H_t = \alpha\,V_{t-1} + \textstyle\sum_s I_{t,s} + b + \xi_t$$

    with $\xi_t = \sigma\sqrt{dt}\,\mathcal N(0, 1)$ drawn from ``fold_in(coeffs.noise_key, t)``
    for the absolute step index $t$ = ``state.step`` (0 without noise). Returns the state with
    ``v`` $= H_t$. A membrane-only LIF (``beta`` ``None``) has no $I$: $H_t = \alpha V_{t-1} + x_t + b + \xi_t$.
    """
    n = coeffs.alpha.shape[0]
    if coeffs.beta is None:  # membrane-only: $H_t = \alpha V_{t-1} + x_t + b + \xi_t$
        i_syn, i_total = None, x
    else:
        i_syn = (state.i_syn + x) * coeffs.beta
        i_total = i_syn if i_syn.shape[0] == n else jnp.sum(i_syn.reshape(n, -1), axis=-1)
    h = coeffs.alpha * state.v + i_total + coeffs.bias
    if coeffs.noise_key is None:
        return LIFState(v=h, i_syn=i_syn, step=None if state.step is None else state.step + 1)
    if state.step is None:
        raise ValueError("this LIF draws noise, but `state` has no step count: start from the model's init_state")
    draw = jax.random.normal(jax.random.fold_in(coeffs.noise_key, state.step), (n,), h.dtype)
    return LIFState(v=h + coeffs.noise_scale * draw, i_syn=i_syn, step=state.step + 1)


class LIF(AbstractSpikingNeuron):
    r"""Current-based leaky integrate-and-fire neurons, each with one or more exponential synapses.

    Discrete-time semantics of Rockpool's ``LIFJax`` (exact exponential decay, input added
    at the start of the step), per step (:func:`lif_charge`, then fire and reset):

    $$I \mathrel{+}= x_t,\quad V \mathrel{*}= e^{-dt/\tau_{mem}},\quad I \mathrel{*}= e^{-dt/\tau_{syn}},
    \quad V \mathrel{+}= \textstyle\sum_s I_s + b + \sigma\sqrt{dt}\,\mathcal N(0, 1),$$
    $$S = \mathrm{clip}(\lfloor V/\vartheta\rfloor [V \ge \vartheta], 0, S_{max}),\quad
    V \mathrel{-}= S\,\vartheta\ \ (\text{or } V = v_{reset} \text{ where } S > 0).$$

    Sub-threshold, a constant input $x$ on one synapse gives
    $V_t = \sum_{k=1}^{t} \alpha^{t-k}\,\frac{\beta(1-\beta^k)}{1-\beta}\,x$, with
    $\alpha = e^{-dt/\tau_{mem}}$, $\beta = e^{-dt/\tau_{syn}}$.

    A membrane-only LIF (``tau_syn=None``) has no $I$: $V \mathrel{*}= e^{-dt/\tau_{mem}}$,
    $V \mathrel{+}= x_t + b + \ldots$, then fire and reset as above.

    Input is ``(T, n_neurons * n_synapses)``: channel ``n * n_synapses + s`` feeds synapse
    ``s`` of neuron ``n``; the sizes come from ``params.tau_syn``'s shape. Output: spikes
    ``(T, n_neurons)`` (event counts per step).

    **Arguments:**

    - ``params``: :class:`LIFParams`; :meth:`create` builds them from values.
    - ``dt``: step (s, default 1 ms). A ``dt`` above a time constant warns (the exact decay
      stays stable, but faster dynamics are not resolved).
    - ``spike_fn``: surrogate; default ``MultiSpike(2**16, window=0.5)``.
    - ``detach_reset``: stop the reset's gradient.
    - ``adjoint``: :class:`spikax.FusedAdjoint` by default: the whole sequence runs as one
      forward and one backward loop with the derivative written out by hand
      (:mod:`spikax.neurons._lif_kernel`), in place on batch-first data, for the speed of a
      Linear+LIF layer; same values and, to float32 rounding, the same gradients as
      :class:`spikax.DirectAdjoint`, which forward mode (``jax.jvp``) needs. Calls with
      ``record=``, noise or ``checkpoint_every`` run the generic loop.

    **Training.** The defaults (``MultiSpike``, ``detach_reset=False``, ``dt`` = 1 ms) keep the
    gradient of the spike count growing like the count itself: for a constant input, 1 spike in
    50 ms and 33 in 0.5 s give |d count/d input| = 2.9 and 45 (ratio 15;
    ``tests/test_gradients.py``).

    Reference: Rockpool ``LIFJax`` (github.com/synsense/rockpool); Gerstner et al. (2014),
    *Neuronal Dynamics*, ch. 1, doi:10.1017/CBO9781107447615.
    """

    params: LIFParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        params: LIFParams,
        *,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("LIF", params, LIFParams)
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=MultiSpike, fire_at=">=",
            detach_reset=detach_reset, adjoint=FusedAdjoint() if adjoint is None else adjoint,
        )
        check_time_constant("tau_mem", params.tau_mem, self.dt, euler=False)
        if params.tau_syn is not None:
            check_time_constant("tau_syn", params.tau_syn, self.dt, euler=False)
        self.params = params

    @classmethod
    def create(
        cls,
        n_neurons: int,
        *,
        n_synapses: int = 1,
        tau_mem: ParamLike = 20e-3,
        tau_syn: Optional[ParamLike] = 20e-3,
        bias: ParamLike = 0.0,
        v_threshold: ParamLike = 1.0,
        v_reset: Optional[ParamLike] = None,
        noise_std: Optional[ParamLike] = None,
        max_spikes_per_dt: float = DEFAULT_MAX_SPIKES_PER_DT,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        dt: float = 1e-3,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "LIF":
        """A layer of ``n_neurons`` LIF neurons with ``n_synapses`` synapses each, from values.

        ``tau_mem`` (s, 20 ms), ``bias`` (0), ``v_threshold`` (1), ``v_reset`` (``None``:
        subtract; e.g. 0 for a reset to zero): scalar or per neuron. ``tau_syn`` (s, 20 ms):
        scalar, per neuron or ``(n_neurons, n_synapses)``; ``None``: membrane-only, the input
        added to $V$ directly (the neuron of snnTorch's ``Leaky`` and Spyx's ``LIF``, in
        Rockpool's step order; ``n_synapses`` must then be 1). ``noise_std``: $\\sigma$ (``None``
        or 0: no noise). ``max_spikes_per_dt``: events per step of the default surrogate
        ($2^{16}$; 1 for binary spikes). The rest as for :class:`LIF`.
        """
        n, s = check_count("n_neurons", n_neurons), check_count("n_synapses", n_synapses)
        if tau_syn is None and s != 1:
            raise ValueError(f"a membrane-only LIF (tau_syn=None) has no synapses: `n_synapses` must be 1, got {s}")
        if tau_syn is not None:
            tau_syn = as_param("tau_syn", tau_syn, positive=True)
            if tau_syn.ndim == 1 and tau_syn.shape[0] == n and s > 1:
                tau_syn = tau_syn[:, None]  # one value per neuron, shared by its synapses
        noise = optional_param("noise_std", noise_std, nonnegative=True)
        if noise is not None and is_concrete(noise) and not bool(jnp.any(noise > 0)):
            noise = None  # sigma = 0: no noise to draw, and no key needed
        params = LIFParams(
            tau_mem=as_param("tau_mem", tau_mem, shape=(n,), positive=True),
            tau_syn=None if tau_syn is None else as_param("tau_syn", tau_syn, shape=(n, s), positive=True),
            bias=as_param("bias", bias, shape=(n,)),
            v_threshold=as_param("v_threshold", v_threshold, shape=(n,), positive=True),
            v_reset=optional_param("v_reset", v_reset, shape=(n,)),
            noise_std=noise,
        )
        if spike_fn is None:
            spike_fn = MultiSpike(max_spikes_per_dt)
        return cls(params, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, adjoint=adjoint)

    @property
    def n_neurons(self) -> int:
        tau_syn = self.params.tau_syn
        return jnp.shape(self.params.tau_mem)[0] if tau_syn is None else tau_syn.shape[0]

    @property
    def n_synapses(self) -> int:
        """Synapses per neuron (1 for a membrane-only LIF, whose input channel is its membrane)."""
        return 1 if self.params.tau_syn is None else self.params.tau_syn.shape[1]

    @property
    def in_features(self) -> int:
        return self.n_neurons * self.n_synapses

    def init_state(self, input_shape=None) -> LIFState:
        if input_shape is not None and tuple(input_shape) != (self.in_features,):
            raise ValueError(
                f"LIF input steps must have shape ({self.in_features},) = n_neurons*n_synapses, "
                f"got {tuple(input_shape)}"
            )
        dtype = self.params.tau_mem.dtype
        # At rest: v_reset, or 0 under the subtractive reset.
        v_reset = self.params.v_reset
        v = jnp.zeros((self.n_neurons,), dtype) if v_reset is None else jnp.broadcast_to(v_reset, (self.n_neurons,))
        step = None if self.params.noise_std is None else jnp.zeros((), jnp.int32)
        i_syn = None if self.params.tau_syn is None else jnp.zeros((self.in_features,), dtype)
        return LIFState(v=v.astype(dtype), i_syn=i_syn, step=step)

    def prepare(self, xs, key: Key, *, name="xs"):
        xs = sequence(
            xs, name, (self.in_features,), what=f"n_neurons*n_synapses = {self.n_neurons}*{self.n_synapses}",
            dtype=self.params.tau_mem.dtype,
        )
        noise_std = self.params.noise_std
        if noise_std is None:
            return xs, None
        if key is None:
            raise ValueError("this LIF draws membrane noise (params.noise_std is set): pass `key=`")
        # Each step draws its own noise from the step index (see lif_charge): drawn in the loop
        # rather than here, because the index of the first step is the state's, not known yet.
        keys = jnp.broadcast_to(key, (xs.shape[0], *jnp.shape(key)))
        return xs, per_step_coefficients(lif_derive(self.params, self.dt), noise_key=keys)

    derive = staticmethod(lif_derive)
    charge = staticmethod(lif_charge)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(no_jump)


register_sequence_kernel(LIF, lif_sequence)
