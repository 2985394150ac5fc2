r"""Current-based leaky integrate-and-fire neuron with several synapses (Rockpool ``LIFJax`` semantics)."""

from __future__ import annotations

import math
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._types import AbstractNeuron, AbstractSurrogate, Key
from .._validate import as_param, check_choice, check_count, check_dt, check_input, check_time_constant
from ..surrogate import MultiSpike
from ._base import fire, reset, run_neuron

__all__ = ["LIF", "LIFCoeffs", "LIFParams", "LIFState", "lif_charge", "lif_derive", "lif_step"]


class LIFParams(eqx.Module):
    """Parameters of :class:`LIF` (SI units)."""

    tau_mem: Float[Array, " neurons"]
    """Membrane time constant (s), > 0."""
    tau_syn: Float[Array, "neurons synapses"]
    """Synaptic time constant of each synapse of each neuron (s), > 0."""
    bias: Float[Array, " neurons"]
    """Constant added to the membrane potential every step (units of v per step)."""
    v_threshold: Float[Array, " neurons"]
    """Firing threshold (units of v), > 0; each event removes one threshold (subtract reset)."""


class LIFState(eqx.Module):
    """State of :class:`LIF`."""

    v: Float[Array, " neurons"]
    """Membrane potential after the last step's reset."""
    i_syn: Float[Array, " neurons*synapses"]
    """Synaptic currents after the last step's decay, in input-channel order: entry
    ``n * n_synapses + s`` is synapse ``s`` of neuron ``n`` (``.reshape(n_neurons, n_synapses)``
    for the matrix). Flat on purpose: a trailing size-1 axis slows XLA's loop down by half."""


class LIFCoeffs(eqx.Module):
    """Loop invariants of :class:`LIF`, computed once per sequence by :func:`lif_derive`."""

    alpha: Float[Array, " neurons"]
    beta: Float[Array, " neurons*synapses"]
    bias: Float[Array, " neurons"]
    v_threshold: Float[Array, " neurons"]


def lif_derive(params: LIFParams, dt: float) -> LIFCoeffs:
    r"""Decay factors $\alpha = e^{-dt/\tau_{mem}}$, $\beta = e^{-dt/\tau_{syn}}$."""
    return LIFCoeffs(
        alpha=jnp.exp(-dt / params.tau_mem),
        beta=jnp.exp(-dt / params.tau_syn).reshape(-1),
        bias=params.bias,
        v_threshold=params.v_threshold,
    )


def lif_charge(
    coeffs: LIFCoeffs,
    state: LIFState,
    x: Float[Array, " neurons*synapses"],
    noise: Optional[Float[Array, " neurons"]],
) -> tuple[Float[Array, " neurons"], Float[Array, " neurons*synapses"]]:
    r"""The LIF's charge: synapses take the input and decay, the membrane decays and integrates.

    With $I$ and $x_t$ indexed by (neuron, synapse) in input-channel order:

    $$I_t = \beta \odot (I_{t-1} + x_t),\qquad
    H_t = \alpha\,V_{t-1} + \textstyle\sum_s I_{t,s} + b + \xi_t$$

    ``noise`` is $\xi_t$, already scaled (``None`` for none). Returns $(H_t, I_t)$.
    """
    n = coeffs.alpha.shape[0]
    i_syn = (state.i_syn + x) * coeffs.beta
    i_total = i_syn if i_syn.shape[0] == n else jnp.sum(i_syn.reshape(n, -1), axis=-1)
    h = coeffs.alpha * state.v + i_total + coeffs.bias
    if noise is not None:
        h = h + noise
    return h, i_syn


def lif_step(
    coeffs: LIFCoeffs,
    state: LIFState,
    x: Float[Array, " neurons*synapses"],
    noise: Optional[Float[Array, " neurons"]],
    *,
    spike_fn: AbstractSurrogate,
    v_reset: Optional[float],
    detach_reset: bool,
) -> tuple[LIFState, Float[Array, " neurons"]]:
    r"""One step of the current-based LIF: charge (:func:`lif_charge`), fire, reset.

    $$S_t = \mathrm{spike\_fn}(H_t, \vartheta),\qquad
    V_t = H_t - S_t\,\vartheta \quad\text{(or hard reset to } v_{reset}\text{)}$$
    """
    h, i_syn = lif_charge(coeffs, state, x, noise)
    spikes = fire(spike_fn, h, coeffs.v_threshold, ">=")
    v = reset(h, spikes, coeffs.v_threshold, v_reset, detach=detach_reset)
    return LIFState(v=v, i_syn=i_syn), spikes


class LIF(AbstractNeuron):
    r"""Current-based leaky integrate-and-fire neurons, each with one or more exponential synapses.

    Discrete-time semantics of Rockpool's ``LIFJax`` (exact exponential decay, input added
    at the start of the step), per step (see :func:`lif_step`):

    $$I \mathrel{+}= x_t,\quad V \mathrel{*}= e^{-dt/\tau_{mem}},\quad I \mathrel{*}= e^{-dt/\tau_{syn}},
    \quad V \mathrel{+}= \textstyle\sum_s I_s + b + \sigma\sqrt{dt}\,\mathcal N(0, 1),$$
    $$S = \mathrm{clip}(\lfloor V/\vartheta\rfloor [V \ge \vartheta], 0, S_{max}),\quad V \mathrel{-}= S\,\vartheta.$$

    Sub-threshold, a constant input $x$ on one synapse gives
    $V_t = \sum_{k=1}^{t} \alpha^{t-k}\,\frac{\beta(1-\beta^k)}{1-\beta}\,x$, with
    $\alpha = e^{-dt/\tau_{mem}}$, $\beta = e^{-dt/\tau_{syn}}$.

    **Arguments:**

    - ``n_neurons``, ``n_synapses``: the layer's size. Input is ``(T, n_neurons * n_synapses)``;
      channel ``n * n_synapses + s`` feeds synapse ``s`` of neuron ``n``. Output: spikes
      ``(T, n_neurons)`` (event counts per step).
    - ``tau_mem`` (s, default 20 ms), ``tau_syn`` (s, 20 ms; scalar, per neuron or
      ``(n_neurons, n_synapses)``), ``bias`` (0), ``threshold`` (1; stored as
      ``params.v_threshold``): scalar or per neuron.
    - ``noise_std``: $\sigma$, membrane noise in units of v per $\sqrt{s}$ (0: none). When
      non-zero, calls need ``key=``.
    - ``max_spikes_per_dt``: events per step ($2^{16}$; 1 for binary spikes).
    - ``reset``: ``"subtract"`` (default) or ``"zero"``. ``detach_reset``: stop the reset's gradient.
    - ``spike_fn``: surrogate; default ``MultiSpike(max_spikes_per_dt, window=0.5)``.
    - ``dt``: step (s, default 1 ms). A ``dt`` above a time constant warns (the exact decay stays
      stable, but faster dynamics are not resolved).

    Reference: Rockpool ``LIFJax`` (github.com/synsense/rockpool); Gerstner et al. (2014),
    *Neuronal Dynamics*, ch. 1, doi:10.1017/CBO9781107447615.
    """

    params: LIFParams
    spike_fn: AbstractSurrogate
    n_neurons: int = eqx.field(static=True)
    n_synapses: int = eqx.field(static=True)
    noise_std: float = eqx.field(static=True)
    reset: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)
    dt: float = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int,
        *,
        n_synapses: int = 1,
        tau_mem: ArrayLike = 20e-3,
        tau_syn: ArrayLike = 20e-3,
        bias: ArrayLike = 0.0,
        threshold: ArrayLike = 1.0,
        noise_std: float = 0.0,
        max_spikes_per_dt: float = 2**16,
        reset: str = "subtract",
        detach_reset: bool = False,
        spike_fn: Optional[AbstractSurrogate] = None,
        dt: float = 1e-3,
    ):
        n_neurons, n_synapses = check_count("n_neurons", n_neurons), check_count("n_synapses", n_synapses)
        check_choice("reset", reset, ("subtract", "zero"))
        self.dt = check_dt(dt)
        n, s = n_neurons, n_synapses
        tau_syn = as_param("tau_syn", tau_syn, positive=True)
        if tau_syn.ndim == 1 and tau_syn.shape[0] == n and s > 1:
            tau_syn = tau_syn[:, None]  # one value per neuron, shared by its synapses
        params = LIFParams(
            tau_mem=as_param("tau_mem", tau_mem, shape=(n,), positive=True),
            tau_syn=as_param("tau_syn", tau_syn, shape=(n, s), positive=True),
            bias=as_param("bias", bias, shape=(n,)),
            v_threshold=as_param("threshold", threshold, shape=(n,), positive=True),
        )
        check_time_constant("tau_mem", params.tau_mem, self.dt, euler=False)
        check_time_constant("tau_syn", params.tau_syn, self.dt, euler=False)
        noise_std = float(as_param("noise_std", noise_std, nonnegative=True))
        self.params = params
        self.spike_fn = MultiSpike(max_spikes_per_dt) if spike_fn is None else spike_fn
        self.n_neurons, self.n_synapses = n, s
        self.noise_std = noise_std
        self.reset = reset
        self.detach_reset = bool(detach_reset)

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
        return LIFState(
            v=jnp.zeros((self.n_neurons,), dtype),
            i_syn=jnp.zeros((self.in_features,), dtype),
        )

    def prepare(self, xs: Array, key: Key) -> tuple[LIFCoeffs, Optional[Array]]:
        check_input(
            "xs", xs, (self.in_features,),
            what=f"n_neurons*n_synapses = {self.n_neurons}*{self.n_synapses}",
        )
        noise = None
        if self.noise_std > 0.0:
            if key is None:
                raise ValueError(
                    f"this LIF draws membrane noise (noise_std={self.noise_std}): pass `key=`"
                )
            scale = self.noise_std * math.sqrt(self.dt)
            noise = scale * jax.random.normal(key, (xs.shape[0], self.n_neurons), self.params.tau_mem.dtype)
        return lif_derive(self.params, self.dt), noise

    def advance(self, coeffs, state, x, extra):
        return lif_step(
            coeffs,
            state,
            x,
            extra,
            spike_fn=self.spike_fn,
            v_reset=None if self.reset == "subtract" else 0.0,
            detach_reset=self.detach_reset,
        )

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs`` ``(T, n_neurons*n_synapses)``: ``(spikes (T, n_neurons), LIFState, record)``."""
        xs = jnp.asarray(xs)
        if not jnp.issubdtype(xs.dtype, jnp.floating):
            xs = xs.astype(self.params.tau_mem.dtype)  # integer spike counts are fine as input
        return run_neuron(self, xs, state, key=key, record=record)
