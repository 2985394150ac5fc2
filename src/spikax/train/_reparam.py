r"""Constraints by reparameterisation: what the optimiser moves is unconstrained, the model is physical.

A trainable model may hold, in place of a constrained array, a small wrapper whose
:meth:`~AbstractReparam.unwrap` gives the constrained value:

| wrapper | holds | gives | use |
|---|---|---|---|
| :class:`Positive` | $\ell$ | $e^{\ell}$ (broadcast to ``shape``) | bias currents, time constants |
| :class:`NonNegative` | $r$ | $\mathrm{softplus}(r) = \ln(1 + e^{r})$ | one weight per synapse type |
| :class:`SignedSynapses` | signed $W$ | excitatory $\max(W, 0)$, inhibitory $\max(-W, 0)$ | DYNAP-SE2 weights |
| :class:`Masked` | $W$, a boolean mask $M$ | $W M$ | a fan-in limit held during training |

:func:`unwrap` replaces every wrapper by its value, which gives back an ordinary spikax model:
the loss runs ``unwrap(model)``, so gradients reach the unconstrained values through the
constraint, and a saved or deployed model holds the physical parameters, not their
parameterisation. A log parameter makes the gradient scale-free:
$\partial L/\partial\ell = I\,\partial L/\partial I$, the change of the loss per e-fold of the
current, whatever the current's magnitude (a DYNAP-SE2 bias is 1e-12 to 1e-7 A).
"""

from __future__ import annotations

import abc
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PyTree

__all__ = [
    "AbstractReparam",
    "Masked",
    "NonNegative",
    "Positive",
    "SignedSynapses",
    "is_reparam",
    "unwrap",
]


class AbstractReparam(eqx.Module):
    """A constrained value held through an unconstrained one; :meth:`unwrap` gives the value."""

    @abc.abstractmethod
    def unwrap(self) -> PyTree:
        """The constrained value."""


def is_reparam(x) -> bool:
    return isinstance(x, AbstractReparam)


def unwrap(tree: PyTree) -> PyTree:
    """``tree`` with every :class:`AbstractReparam` replaced by its value (the physical model).

    Wrappers may nest (e.g. :class:`Masked` around a :class:`NonNegative`): the inner ones are
    resolved first, so every ``unwrap`` method sees plain arrays.
    """

    def one(x):
        if not is_reparam(x):
            return x
        inner = jax.tree.map(one, x, is_leaf=lambda y: is_reparam(y) and y is not x)
        return inner.unwrap()

    return jax.tree.map(one, tree, is_leaf=is_reparam)


def _positive_array(name: str, value) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"`{name}` must be finite and > 0 to be parameterised by its logarithm, got {value!r}")
    return a


class Positive(AbstractReparam):
    r"""A positive value as its logarithm: $x = e^{\ell}$, broadcast to ``shape``.

    ``Positive.of(value)`` starts at ``value``; ``shared=True`` keeps one value for all
    elements (the mean of their logarithms), e.g. one bias current for every neuron of a
    DYNAP-SE2 core.
    """

    log: Array
    shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, log: ArrayLike, shape: Optional[tuple[int, ...]] = None):
        self.log = jnp.asarray(log)
        self.shape = tuple(self.log.shape if shape is None else shape)
        np.broadcast_shapes(self.log.shape, self.shape)

    @classmethod
    def of(cls, value: ArrayLike, *, shared: bool = False) -> "Positive":
        a = _positive_array("value", value)
        dtype = jnp.asarray(value).dtype
        log = np.log(a)
        if shared:
            return cls(jnp.asarray(log.mean(), dtype), a.shape)
        return cls(jnp.asarray(log, dtype), a.shape)

    def unwrap(self) -> Array:
        return jnp.broadcast_to(jnp.exp(self.log), self.shape)


class NonNegative(AbstractReparam):
    r"""A value $\ge 0$ as a softplus: $x = \ln(1 + e^{r})$ (zero is approached, never reached).

    ``NonNegative.of(value)`` starts at ``value``; exact zeros start at ``floor`` (where the
    softplus' slope, a sigmoid, is ``floor`` too: a weight there moves slowly but can grow).
    """

    raw: Array

    def __init__(self, raw: ArrayLike):
        self.raw = jnp.asarray(raw)

    @classmethod
    def of(cls, value: ArrayLike, *, floor: float = 1e-3) -> "NonNegative":
        a = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"`value` must be finite and >= 0, got a minimum of {np.nanmin(a):.4g}")
        a = np.where(a == 0, floor, a)
        # The inverse softplus, written to stay exact for large values.
        raw = a + np.log(-np.expm1(-a))
        raw = np.where(np.isfinite(raw), raw, np.log(np.finfo(np.float32).tiny))
        return cls(jnp.asarray(raw, jnp.asarray(value).dtype))

    def unwrap(self) -> Array:
        return jax.nn.softplus(self.raw)


class SignedSynapses(AbstractReparam):
    r"""DYNAP-SE2 weights from one signed matrix: $W^+ = \max(W, 0)$ onto ``excitatory``
    (AMPA or NMDA), $W^- = \max(-W, 0)$ onto ``inhibitory`` (GABA or SHUNT).

    Each connection is one synapse type at a time, as on the chip (one CAM entry, one
    dendrite), and training may move it from excitation to inhibition through zero. Both
    parts are $\ge 0$ by construction. ``unwrap`` gives a
    :class:`~spikax.devices.dynapse.Synapses` (the other two types ``None``).
    """

    weight: Array
    excitatory: str = eqx.field(static=True)
    inhibitory: str = eqx.field(static=True)

    def __init__(self, weight: ArrayLike, *, excitatory: str = "ampa", inhibitory: str = "gaba"):
        from .._validate import check_choice

        check_choice("excitatory", excitatory, ("ampa", "nmda"))
        check_choice("inhibitory", inhibitory, ("gaba", "shunt"))
        self.weight = jnp.asarray(weight)
        self.excitatory = excitatory
        self.inhibitory = inhibitory

    @classmethod
    def of(cls, synapses) -> "SignedSynapses":
        """The signed form of a :class:`~spikax.devices.dynapse.Synapses` with at most one
        excitatory and one inhibitory type: $W = W^+ - W^-$ (a connection present in both
        becomes their difference)."""
        values = dict(zip(("ampa", "nmda", "gaba", "shunt"), synapses.values()))
        exc = [k for k in ("ampa", "nmda") if values[k] is not None]
        inh = [k for k in ("gaba", "shunt") if values[k] is not None]
        if len(exc) > 1 or len(inh) > 1 or not (exc or inh):
            raise ValueError(
                "SignedSynapses needs at most one excitatory (ampa or nmda) and one inhibitory (gaba or shunt) "
                f"weight matrix, got {[k for k, v in values.items() if v is not None]}"
            )
        pos = values[exc[0]] if exc else jnp.zeros_like(values[inh[0]])
        neg = values[inh[0]] if inh else jnp.zeros_like(pos)
        return cls(pos - neg, excitatory=exc[0] if exc else "ampa", inhibitory=inh[0] if inh else "gaba")

    def unwrap(self):
        from ..devices.dynapse import Synapses

        w = self.weight
        return Synapses(**{self.excitatory: jnp.maximum(w, 0.0), self.inhibitory: jnp.maximum(-w, 0.0)})


class Masked(AbstractReparam):
    r"""A weight with some connections held at zero: $W M$ (``mask`` boolean, the shape of
    ``value``; ``value`` an array or another wrapper). The masked entries get no gradient, so
    training keeps a pruned network pruned (e.g. to the DYNAP-SE2's 64 incoming connections per
    neuron, :func:`spikax.devices.dynapse.deploy.prune_fan_in`)."""

    value: PyTree
    mask: Array

    def __init__(self, value, mask: ArrayLike):
        mask = jnp.asarray(mask, dtype=bool)
        shape = jnp.shape(value) if not isinstance(value, eqx.Module) else jnp.shape(unwrap(value))
        if mask.shape != tuple(shape):
            raise ValueError(f"Masked: `mask` must have the shape of the value {tuple(shape)}, got {mask.shape}")
        self.value = value
        self.mask = mask

    def unwrap(self) -> Array:
        return jnp.where(self.mask, self.value, 0.0)
