"""``DynapSim``: a thin module over the DYNAP-SE2 dynamics, and a synapse-aware input layer."""

from __future__ import annotations

import warnings
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..._adjoint import AbstractAdjoint, ReplayAdjoint
from ..._types import AbstractLayer, AbstractNeuron, AbstractSurrogate, Key, ParamLike
from ..._validate import (
    as_param,
    check_choice,
    check_count,
    check_dt,
    check_finite,
    check_input,
    check_max_spikes,
    is_concrete,
)
from ...layers._linear import kaiming_uniform
from ...surrogate import DEFAULT_MAX_SPIKES_PER_DT
from ._circuit import N_SYNAPSE_TYPES, SYNAPSES, DynapseParams, Synapses
from ._dynamics import (
    DEFAULT_SPIKE_FN,
    METHODS,
    DynapseState,
    dynapse_charge,
    dynapse_derive,
    dynapse_fire,
    dynapse_init_state,
    dynapse_reset,
    vmem_from_imem,
)
from ._translate import pulse_width

__all__ = ["DynapSim", "DynapseLinear"]


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

    The dynamics and their integration are documented in :mod:`spikax.devices.dynapse._dynamics`;
    the module only holds the parameters and the configuration and names the stages
    (:func:`~spikax.devices.dynapse.dynapse_charge`, :func:`~spikax.devices.dynapse.dynapse_fire`,
    :func:`~spikax.devices.dynapse.dynapse_reset`). Recurrent connections are
    ``sx.Recurrent(DynapSim(...), w_rec)`` with one weight matrix per synapse type.

    **Arguments:**

    - ``params``: a :class:`DynapseParams` (:meth:`create` builds the chip defaults with any
      bias current or capacitance overridden by name).
    - ``dt``: step (s, default 1 ms); at most one spike per step, so ``dt <= t_ref`` (a warning
      says otherwise).
    - ``method``: ``"heun"`` (default), ``"rk4"`` or ``"euler"`` (for comparison only: at 1 ms
      it misses the firing rate by up to 14 %).
    - ``spike_fn``: the surrogate, a :mod:`spikax.surrogate` family applied to
      $\ln(I_{mem}/I_o)$; the default :data:`~spikax.devices.dynapse.DEFAULT_SPIKE_FN` (fast
      sigmoid, slope 25) keeps gradients finite in recurrent networks.
      ``None`` is the DYNAP-SE tutorial's ReLU-like derivative $[I_{mem} > I_{reset}]/I_{spkthr}$,
      for feed-forward networks only: with recurrent excitation its gradient grows without
      bound (:func:`~spikax.devices.dynapse.dynapse_spike` explains why).
    - ``multi_spike``: report $\lceil\ln(I_{mem}/I_{spkthr})\rceil$ events (clipped to
      ``max_spikes_per_dt``) at the end of a step, a training aid of the DYNAP-SE tutorial;
      the default reports the chip's single event at the located crossing.
    - ``adjoint``: how reverse mode gets a step's intermediates (:mod:`spikax._adjoint`):
      :class:`spikax.ReplayAdjoint` (default) keeps the solved membrane currents and re-runs the
      rest of the step backward; :class:`spikax.RecomputeAdjoint` re-runs the whole step;
      :class:`spikax.DirectAdjoint` stores every intermediate.

    Input ``xs``: a :class:`Synapses` of ``(T, n_neurons)`` arrays (what :class:`DynapseLinear`
    returns; ``None`` for a synapse type without input) or one ``(T, n_neurons, 4)`` array,
    weighted spike counts >= 0 per synapse (AMPA, NMDA, GABA, SHUNT); a unit input sets the
    weight current ``Iscale``. Output: spikes ``(T, n_neurons)``. ``record=True`` returns the
    state's ``imem``, ``iampa``, ``inmda``, ``igaba``, ``ishunt``, ``iahp``, ``t_ref`` and the
    derived ``vmem`` and ``spikes`` (A, V and s, time first).

    **Training.** The defaults (:data:`~spikax.devices.dynapse.DEFAULT_SPIKE_FN`, Heun, the
    replay adjoint, dt = 1 ms) are the training setting, recurrent or not. Two neurons under
    20 Hz Poisson input through :class:`DynapseLinear`, median over 8 draws of
    max |d count/d w_in|: without recurrence 0.30 (3 spikes) over 50 ms, 8.1 (37) over 0.5 s and
    29 (158) over 2 s; with AMPA self-excitation 5: 0.46, 1.4, 3.8; at 10: 0.31, 0.85, 1.7
    (0.5 s / 50 ms: 27, 3.1, 2.7). The tutorial's derivative (``spike_fn=None``) overflows to
    NaN in 0.5 s from a self-weight of 2 (see :func:`~spikax.devices.dynapse.dynapse_spike`).
    """

    params: DynapseParams
    spike_fn: Optional[AbstractSurrogate]
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    method: str = eqx.field(static=True)
    multi_spike: bool = eqx.field(static=True)
    max_spikes_per_dt: float = eqx.field(static=True)

    def __init__(
        self,
        params: DynapseParams,
        *,
        dt: float = 1e-3,
        method: str = "heun",
        spike_fn: Optional[AbstractSurrogate] = DEFAULT_SPIKE_FN,
        multi_spike: bool = False,
        max_spikes_per_dt: float = DEFAULT_MAX_SPIKES_PER_DT,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        if not isinstance(params, DynapseParams):
            raise TypeError(
                "`params` must be DynapseParams (DynapSim.create builds the chip defaults), "
                f"got {type(params).__name__}"
            )
        self.dt = check_dt(dt)
        check_choice("method", method, METHODS)
        if spike_fn is not None and not isinstance(spike_fn, AbstractSurrogate):
            raise TypeError(f"`spike_fn` must be None or a spikax.surrogate module, got {type(spike_fn).__name__}")
        adjoint = ReplayAdjoint() if adjoint is None else adjoint
        if not isinstance(adjoint, AbstractAdjoint):
            raise TypeError(f"`adjoint` must be a spikax adjoint (e.g. sx.ReplayAdjoint()), got {adjoint!r}")
        params.check()
        leaves = (params.Iref, params.C_ref, params.Vth)
        if all(is_concrete(leaf) for leaf in leaves):
            t_ref = float(np.min(pulse_width(*(np.asarray(leaf) for leaf in leaves))))
            # A second spike in one step needs the refractory period to end *and* the membrane
            # to climb five decades from Ireset to Ispkthr inside the same step; that climb
            # takes 2.6 ms even at Idc = Ispkthr (measured at dt = 10 us). A period just below
            # dt (the default 1 ms under mismatch) is handled exactly by the reset stage and
            # costs nothing, so only a period below half a step is worth a warning.
            if t_ref < 0.5 * self.dt:
                warnings.warn(
                    f"the refractory period ({t_ref:.3g} s) is shorter than half of dt ({self.dt:g} s): a neuron "
                    "driven hard enough to fire again within one step has its second spike reported in the "
                    "next step; reduce dt",
                    UserWarning,
                    stacklevel=2,
                )
        self.params = params
        self.spike_fn = spike_fn
        self.adjoint = adjoint
        self.method = method
        self.multi_spike = bool(multi_spike)
        self.max_spikes_per_dt = check_max_spikes(max_spikes_per_dt)

    @classmethod
    def create(
        cls,
        n_neurons: int,
        *,
        dt: float = 1e-3,
        method: str = "heun",
        spike_fn: Optional[AbstractSurrogate] = DEFAULT_SPIKE_FN,
        multi_spike: bool = False,
        max_spikes_per_dt: float = DEFAULT_MAX_SPIKES_PER_DT,
        adjoint: Optional[AbstractAdjoint] = None,
        **overrides,
    ) -> "DynapSim":
        """``n_neurons`` neurons with the chip defaults, any parameter overridden by name
        (scalar or per-neuron array, e.g. ``Itau_mem=5.3e-12``); the rest as for :class:`DynapSim`."""
        params = DynapseParams.default(n_neurons, **overrides)
        return cls(
            params, dt=dt, method=method, spike_fn=spike_fn, multi_spike=multi_spike,
            max_spikes_per_dt=max_spikes_per_dt, adjoint=adjoint,
        )

    @property
    def n_neurons(self) -> int:
        return self.params.n_neurons

    def init_state(self, input_shape=None) -> DynapseState:
        n = self.n_neurons
        if input_shape is not None and tuple(input_shape) not in ((n,), (n, N_SYNAPSE_TYPES)):
            raise ValueError(
                f"DynapSim input steps must have shape ({n}, {N_SYNAPSE_TYPES}) or, split by synapse type, "
                f"({n},), got {tuple(input_shape)}"
            )
        return dynapse_init_state(self.params)

    def prepare(self, xs, key: Key, *, name="xs"):
        dtype = self.params.Io.dtype
        if isinstance(xs, Synapses):
            present = [x for x in xs.values() if x is not None]
            if not present:
                raise ValueError(f"`{name}` is a Synapses without any input: at least one synapse type needs one")
            parts = []
            for kind, x in zip(SYNAPSES, xs.values()):
                if x is not None:
                    x = jnp.asarray(x)
                    check_input(f"{name}.{kind}", x, (self.n_neurons,))
                    _check_nonnegative(name, x)
                    x = x.astype(dtype)
                parts.append(x)
            if len({x.shape[0] for x in parts if x is not None}) != 1:
                raise ValueError(f"every synapse type of `{name}` must have the same number of steps T")
            return Synapses(*parts), None
        xs = jnp.asarray(xs)
        check_input(name, xs, (self.n_neurons, N_SYNAPSE_TYPES), what="n_neurons x synapses (AMPA, NMDA, GABA, SHUNT)")
        _check_nonnegative(name, xs)
        # Split once here (not in every step): a transpose of the whole input is cheap, four
        # stride-4 gathers per step are not.
        return Synapses(*jnp.moveaxis(xs.astype(dtype), -1, 0)), None

    def derive(self, params, dt):
        return dynapse_derive(
            params, dt, method=self.method, multi_spike=self.multi_spike, max_spikes_per_dt=self.max_spikes_per_dt
        )

    charge = staticmethod(dynapse_charge)

    def fire(self, coeffs, h):
        return dynapse_fire(coeffs, h, self.spike_fn)

    reset = staticmethod(dynapse_reset)

    def observe(self, coeffs, state, y):
        return {"vmem": vmem_from_imem(coeffs, state.imem), "spikes": y}


class DynapseLinear(AbstractLayer):
    r"""Weights onto the four synapse types: ``(T, n_in)`` spikes to :class:`DynapSim` input.

    The output is a :class:`Synapses` of ``(T, n_out)`` arrays, ``None`` for a synapse type the
    weights do not reach (``.to_array()`` gives the ``(T, n_out, 4)`` array).

    Two forms of ``weight``:

    - signed ``(n_in, n_out)``: positive weights drive the ``excitatory`` synapse
      (``"ampa"`` or ``"nmda"``), negative ones the ``inhibitory`` synapse (``"gaba"``, which
      raises the leak, or ``"shunt"``, which subtracts from the input current) with their
      magnitude: $x_{exc} = x\,\max(W, 0)$, $x_{inh} = x\,\max(-W, 0)$;
    - ``(n_in, n_out, 4)`` >= 0: full control, one weight per synapse type.

    Inputs must be non-negative (spike counts), so the outputs are too. :meth:`create`
    initialises a signed weight from a key.
    """

    weight: Array
    excitatory: str = eqx.field(static=True)
    inhibitory: str = eqx.field(static=True)

    def __init__(self, weight: ParamLike, *, excitatory: str = "ampa", inhibitory: str = "gaba"):
        weight = as_param("weight", weight)
        check_choice("excitatory", excitatory, ("ampa", "nmda"))
        check_choice("inhibitory", inhibitory, ("gaba", "shunt"))
        if weight.ndim == 3:
            if weight.shape[-1] != N_SYNAPSE_TYPES:
                raise ValueError(f"a 3-D `weight` must be (n_in, n_out, {N_SYNAPSE_TYPES}), got {weight.shape}")
            _check_nonnegative("weight", weight)
        elif weight.ndim != 2:
            raise ValueError(f"`weight` must be (n_in, n_out) signed or (n_in, n_out, 4), got shape {weight.shape}")
        self.weight = weight
        self.excitatory = excitatory
        self.inhibitory = inhibitory

    @classmethod
    def create(
        cls,
        in_features: int,
        out_features: int,
        *,
        key: Optional[PRNGKeyArray],
        excitatory: str = "ampa",
        inhibitory: str = "gaba",
        scale: float = 1.0,
    ) -> "DynapseLinear":
        r"""Signed weights $\mathcal U(-s/\sqrt{n_{in}}, s/\sqrt{n_{in}})$ with $s$ = ``scale``."""
        n_in, n_out = check_count("in_features", in_features), check_count("out_features", out_features)
        weight = kaiming_uniform(key, (n_in, n_out), n_in, scale)
        return cls(weight, excitatory=excitatory, inhibitory=inhibitory)

    @property
    def in_features(self) -> int:
        return self.weight.shape[0]

    def to_synapses(self) -> Synapses:
        """The weights per synapse type, each ``(n_in, n_out)`` and >= 0 (``None`` where none)."""
        if self.weight.ndim == 3:
            return Synapses.from_array(self.weight)
        exc, inh = jnp.maximum(self.weight, 0.0), jnp.maximum(-self.weight, 0.0)
        return Synapses(**{self.excitatory: exc, self.inhibitory: inh})

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs, state=None, *, key=None, record=False) -> tuple[Synapses, None, Optional[dict]]:
        xs = jnp.asarray(xs)
        if xs.ndim < 1 or xs.shape[-1] != self.in_features:
            raise ValueError(f"`xs` must end with in_features = {self.in_features} channels, got shape {xs.shape}")
        _check_nonnegative("xs", xs)
        check_finite("xs", xs)
        # One product per synapse type that has weights (two for the signed form); the others
        # get None (no input at all), not arrays of zeros.
        check_finite("weight", self.weight)
        # No run-time output check here: a NaN reaches DynapSim's output, which is checked.
        ys = jax.tree.map(lambda w: xs @ w, self.to_synapses())
        return ys, None, ({} if record else None)
