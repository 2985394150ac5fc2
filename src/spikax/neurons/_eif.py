r"""Exponential and quadratic integrate-and-fire neurons: one forward-Euler structure, two drives.

Both are $\tau\,\dot v = F(v) + R I$ with $R = 1$ (the input is in units of v), integrated by
forward Euler (:func:`euler_charge`), firing at $H \ge v_{threshold}$ (the spike cut-off) with a
hard reset to ``v_reset``, and starting at rest, ``v_leak``. They differ only in $F$:

- EIF (Fourcaud-Trocmé et al. 2003): $F(v) = -(v - v_{leak}) + \Delta_T e^{(v - v_{rh})/\Delta_T}$;
- QIF (Ermentrout & Kopell 1986; Latham et al. 2000): $F(v) = a_0 (v - v_{leak})(v - v_c)$.

With ``dt=1`` and ``tau`` counted in steps they are SpikingJelly's ``EIFNode`` and ``QIFNode``
(whose ``theta_rh`` is ``v_rh`` and ``v_rest`` is ``v_leak``); their defaults are the ones here,
with ``tau`` in seconds.
"""

from __future__ import annotations

from typing import Optional, Union

import equinox as eqx
from jaxtyping import Array, ArrayLike

from .._adjoint import AbstractAdjoint
from .._types import AbstractSurrogate, Key, ParamLike
from .._validate import as_param, check_time_constant
from ..surrogate import FastSigmoid
from ._base import (
    AbstractParamsCoeffs,
    check_params,
    AbstractSpikingNeuron,
    NeuronState,
    check_above,
    check_param_shapes,
    configure,
    fixed_threshold,
    no_jump,
    one_variable_state,
    sequence,
)
from ._exp import exp_term

#: Why the spike cut-off must lie above the exponential's centre (EIF and AdEx).
CUT_PAST_ONSET = " (the spike cut-off lies past the exponential's onset)"

__all__ = [
    "EIF",
    "AbstractEulerNeuron",
    "EIFParams",
    "QIF",
    "QIFParams",
    "EulerCoeffs",
    "eif_charge",
    "euler_derive",
    "qif_charge",
]


class EIFParams(eqx.Module):
    """Parameters of :class:`EIF` (scalars or broadcastable to the neurons)."""

    tau: ArrayLike
    """Membrane time constant (s), > 0."""
    delta_T: ArrayLike
    r"""Sharpness $\Delta_T$ of the spike initiation (units of v), > 0."""
    v_rh: ArrayLike
    r"""Rheobase threshold $v_{rh}$: centre of the exponential term."""
    v_leak: ArrayLike
    """Resting (leak) potential."""
    v_threshold: ArrayLike
    """Spike cut-off (a spike is $H \\ge v_{threshold}$), > ``v_rh``."""
    v_reset: ArrayLike
    """Potential after a spike."""


class QIFParams(eqx.Module):
    """Parameters of :class:`QIF` (scalars or broadcastable to the neurons)."""

    tau: ArrayLike
    """Membrane time constant (s), > 0."""
    a0: ArrayLike
    """Sharpness of the quadratic (1/unit of v), > 0."""
    v_c: ArrayLike
    r"""Critical voltage $v_c$ (> ``v_leak``): above it, the neuron takes off without input."""
    v_leak: ArrayLike
    """Resting potential (the stable fixed point without input)."""
    v_threshold: ArrayLike
    """Spike cut-off (a spike is $H \\ge v_{threshold}$), > ``v_c``."""
    v_reset: ArrayLike
    """Potential after a spike."""


class EulerCoeffs(AbstractParamsCoeffs):
    """Loop invariants of :class:`EIF` and :class:`QIF`: the Euler factor and the parameters."""

    dt_over_tau: ArrayLike
    params: Union[EIFParams, QIFParams]



def euler_derive(params: Union[EIFParams, QIFParams], dt: float) -> EulerCoeffs:
    r"""The Euler factor $dt/\tau$."""
    return EulerCoeffs(dt_over_tau=dt / params.tau, params=params)


def euler_charge(coeffs: EulerCoeffs, v: Array, drive: Array, x: Array) -> NeuronState:
    r"""$H = V + \frac{dt}{\tau}\,(F(V) + X)$: the forward-Euler charge both models share."""
    return NeuronState(v=v + coeffs.dt_over_tau * (drive + x))


def eif_charge(coeffs: EulerCoeffs, state: NeuronState, x: Array) -> NeuronState:
    r"""EIF: $F(V) = -(V - v_{leak}) + \Delta_T e^{(V - v_{rh})/\Delta_T}$, the exponential kept
    finite (:func:`spikax.neurons.exp_term`)."""
    p, v = coeffs.params, state.v
    return euler_charge(coeffs, v, p.v_leak - v + exp_term(v, p.v_rh, p.delta_T, p.v_threshold), x)


def qif_charge(coeffs: EulerCoeffs, state: NeuronState, x: Array) -> NeuronState:
    r"""QIF: $F(V) = a_0 (V - v_{leak})(V - v_c)$."""
    p, v = coeffs.params, state.v
    return euler_charge(coeffs, v, p.a0 * (v - p.v_leak) * (v - p.v_c), x)


def _euler_config(model_name, params, params_type, *, dt, spike_fn, detach_reset, adjoint):
    check_params(model_name, params, params_type)
    check_param_shapes(params, tuple(params.__dataclass_fields__))
    config = configure(
        dt=dt, spike_fn=spike_fn, default_spike_fn=FastSigmoid, fire_at=">=", detach_reset=detach_reset, adjoint=adjoint
    )
    check_time_constant("tau", params.tau, config.dt, euler=True)
    return config


class AbstractEulerNeuron(AbstractSpikingNeuron):
    """What EIF and QIF share: forward Euler in ``tau`` (``dt <= tau``), firing at
    $H \\ge v_{threshold}$, a hard reset, a start at ``v_leak``, any neuron shape.

    A final subclass declares its fields, checks them in its ``__init__`` and names its charge.
    """

    params: eqx.AbstractVar[Union[EIFParams, QIFParams]]

    def init_state(self, input_shape=None) -> NeuronState:
        return one_variable_state(self.params, () if input_shape is None else input_shape, self.params.v_leak)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    derive = staticmethod(euler_derive)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(no_jump)


class EIF(AbstractEulerNeuron):
    r"""Exponential integrate-and-fire neuron (see the module docstring).

    $$\tau \frac{dv}{dt} = -(v - v_{leak}) + \Delta_T\, e^{(v - v_{rh})/\Delta_T} + R I,$$

    one forward-Euler step per ``dt`` (:func:`eif_charge`), spike when $H \ge v_{threshold}$,
    hard reset to ``v_reset``; the state starts at ``v_leak``. The exponential is evaluated at
    $\min(v, v_{threshold})$ with a capped exponent, so it never overflows.

    **Arguments:** ``params`` (:class:`EIFParams`; :meth:`create` builds them from values),
    ``dt`` (1 ms), ``spike_fn`` (``FastSigmoid(25)``), ``detach_reset``, ``adjoint``.

    **Training.** The defaults (``FastSigmoid(25)``, ``detach_reset=False``, ``dt`` = 1 ms)
    keep the gradient of a run's spike count finite and growing like the count: from a 50-ms
    to a 0.5-s run at a constant input of 1.2 (3 and 33 spikes) it grows 10x
    (``tests/test_gradients.py``). Unlike AdEx, one variable and a unit-scale reset keep the
    reset's surrogate term, $(v_{reset} - H)\,\sigma(H - v_{threshold})$, at most
    $|v_{reset} - v_{threshold}| = 1.1$ per spike.

    Reference: Fourcaud-Trocmé, Hansel, van Vreeswijk & Brunel (2003), *How spike generation
    mechanisms determine the neuronal response to fluctuating inputs*, J. Neurosci. 23(37),
    doi:10.1523/JNEUROSCI.23-37-11628.2003.
    """

    params: EIFParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(self, params: EIFParams, *, dt: float = 1e-3, spike_fn=None, detach_reset=False, adjoint=None):
        config = _euler_config(
            "EIF", params, EIFParams, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, adjoint=adjoint
        )
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = config
        self.params = params

    @classmethod
    def create(
        cls,
        *,
        tau: ParamLike = 20e-3,
        delta_T: ParamLike = 1.0,
        v_rh: ParamLike = 0.8,
        v_leak: ParamLike = 0.0,
        v_threshold: ParamLike = 1.0,
        v_reset: ParamLike = -0.1,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "EIF":
        """From values: ``tau`` (20 ms), ``delta_T`` (1), ``v_rh`` (0.8), ``v_leak`` (0),
        ``v_threshold`` (1, above ``v_rh``), ``v_reset`` (-0.1)."""
        p = EIFParams(
            tau=as_param("tau", tau, positive=True),
            delta_T=as_param("delta_T", delta_T, positive=True),
            v_rh=as_param("v_rh", v_rh),
            v_leak=as_param("v_leak", v_leak),
            v_threshold=as_param("v_threshold", v_threshold),
            v_reset=as_param("v_reset", v_reset),
        )
        check_above("v_threshold", p.v_threshold, "v_rh", p.v_rh, CUT_PAST_ONSET)
        return cls(p, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, adjoint=adjoint)

    charge = staticmethod(eif_charge)


class QIF(AbstractEulerNeuron):
    r"""Quadratic integrate-and-fire neuron, the normal form of a type-I (saddle-node) neuron.

    $$\tau \frac{dv}{dt} = a_0 (v - v_{leak})(v - v_c) + R I,$$

    one forward-Euler step per ``dt`` (:func:`qif_charge`), spike when $H \ge v_{threshold}$,
    hard reset to ``v_reset``; the state starts at ``v_leak``. With a constant input above the
    rheobase $I_{rh} = a_0 (v_c - v_{leak})^2/4$ it fires periodically, with a rate that rises
    from zero as $\sqrt{I - I_{rh}}$.

    **Arguments:** ``params`` (:class:`QIFParams`; :meth:`create` builds them from values),
    ``dt`` (1 ms), ``spike_fn`` (``FastSigmoid(25)``), ``detach_reset``, ``adjoint``.

    **Training.** The defaults (``FastSigmoid(25)``, ``detach_reset=False``, ``dt`` = 1 ms)
    keep the gradient of a run's spike count finite and growing like the count: from a 50-ms
    to a 0.5-s run at a constant input of 1 (2 and 20 spikes) it grows 10x
    (``tests/test_gradients.py``).

    References: Ermentrout & Kopell (1986), doi:10.1137/0146017; Latham, Richmond, Nelson &
    Nirenberg (2000), doi:10.1152/jn.2000.83.2.808.
    """

    params: QIFParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(self, params: QIFParams, *, dt: float = 1e-3, spike_fn=None, detach_reset=False, adjoint=None):
        config = _euler_config(
            "QIF", params, QIFParams, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, adjoint=adjoint
        )
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = config
        self.params = params

    @classmethod
    def create(
        cls,
        *,
        tau: ParamLike = 20e-3,
        a0: ParamLike = 1.0,
        v_c: ParamLike = 0.8,
        v_leak: ParamLike = 0.0,
        v_threshold: ParamLike = 1.0,
        v_reset: ParamLike = -0.1,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "QIF":
        """From values: ``tau`` (20 ms), ``a0`` (1), ``v_c`` (0.8, above ``v_leak``), ``v_leak``
        (0), ``v_threshold`` (1, above ``v_c``), ``v_reset`` (-0.1)."""
        p = QIFParams(
            tau=as_param("tau", tau, positive=True),
            a0=as_param("a0", a0, positive=True),
            v_c=as_param("v_c", v_c),
            v_leak=as_param("v_leak", v_leak),
            v_threshold=as_param("v_threshold", v_threshold),
            v_reset=as_param("v_reset", v_reset),
        )
        check_above("v_c", p.v_c, "v_leak", p.v_leak)
        check_above("v_threshold", p.v_threshold, "v_c", p.v_c, " (the spike cut-off lies past the take-off)")
        return cls(p, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, adjoint=adjoint)

    charge = staticmethod(qif_charge)
