r"""How reverse mode gets the intermediates of a time step: adjoints as objects.

Backpropagation through time needs, for every step, the values its derivative depends on.
:func:`spikax.simulate` runs the step through an adjoint, which decides where they come from
(in the manner of Diffrax's ``adjoint=`` objects):

| adjoint | what the forward pass keeps per step | what the backward pass recomputes |
|---|---|---|
| :class:`DirectAdjoint` | every residual autodiff asks for | nothing |
| :class:`RecomputeAdjoint` | the step's inputs (carry and input) | the whole step |
| :class:`ReplayAdjoint` | the step's inputs and its root solves | the step without its root solves |
| :class:`FusedAdjoint` | what the model's hand-derived derivative needs (LIF: a boolean per step) | nothing |

:class:`ReplayAdjoint` is for steps that solve an implicit equation by iteration (the DYNAP-SE2
membrane current $I_{mem}(z)$, two Halley steps per stage): the solution is kept, the
iterations are not repeated, and the derivative of the solution comes from the implicit-function
rule of the solve's own ``custom_jvp``. A step marks each solution with :func:`mark_root`; the
adjoint is a ``jax.checkpoint`` whose policy saves exactly the marked values, so the recorded
and the replayed values are matched by JAX's own dataflow, not by call order. All three work in
forward mode (``jax.jvp``) too.

:class:`FusedAdjoint` replaces the generic loop by a model's own whole-sequence kernel where the
model registers one (:func:`register_sequence_kernel`): a forward loop and a backward loop that
read and write the batch-first arrays in place, with the derivative of a whole step written out
by hand (``jax.custom_vjp``). It is reverse mode only; where the model has no kernel, or a call
records, draws noise or checkpoints, the loop runs as :class:`DirectAdjoint` (same values, same
gradients).

Every adjoint also takes ``checkpoint_every=k``: the loop then runs in chunks of ``k`` steps,
each under ``jax.checkpoint``, so the backward pass stores one state per chunk (memory
$O(T/k + k)$ instead of $O(T)$, about one extra forward pass); a model given such an adjoint
(``sx.LIF.create(..., adjoint=sx.DirectAdjoint(checkpoint_every=100))``) runs that way from an
ordinary call.
"""

from __future__ import annotations

import abc
import operator
from collections.abc import Callable
from typing import Optional

import equinox as eqx
import jax
from jax.ad_checkpoint import checkpoint_name

__all__ = [
    "ROOT",
    "AbstractAdjoint",
    "DirectAdjoint",
    "FusedAdjoint",
    "RecomputeAdjoint",
    "ReplayAdjoint",
    "mark_root",
    "register_sequence_kernel",
    "sequence_kernel",
]

#: Name under which a step marks the solution of an implicit equation (see :func:`mark_root`).
ROOT = "spikax_root"


def mark_root(value):
    """Mark ``value`` as the solution of an iterative solve, for :class:`ReplayAdjoint` to keep.

    The identity everywhere else (outside ``jax.checkpoint`` it does nothing at all).
    """
    return checkpoint_name(value, ROOT)


def _check_every(value):
    if value is None:
        return None
    try:
        steps = operator.index(value)  # ints and NumPy integers, not floats
    except TypeError:
        steps = 0
    if isinstance(value, bool) or steps < 1:
        raise ValueError(f"`checkpoint_every` must be None or a positive number of steps, got {value!r}")
    return steps


class AbstractAdjoint(eqx.Module):
    """Decides what reverse mode stores of a time step ``(state, x) -> (state, y)``.

    ``checkpoint_every``: ``None``, or a chunk length in steps for chunked checkpointing of the
    whole loop (see the module docstring).
    """

    checkpoint_every: eqx.AbstractVar[Optional[int]]

    @abc.abstractmethod
    def wrap(self, step: Callable) -> Callable:
        """The step as the time loop runs it: the same values, a chosen way to differentiate."""


class DirectAdjoint(AbstractAdjoint):
    """Plain autodiff of the loop: the fastest backward pass for cheap steps (the default)."""

    checkpoint_every: Optional[int] = eqx.field(static=True, default=None, converter=_check_every)

    def wrap(self, step: Callable) -> Callable:
        return step


class RecomputeAdjoint(AbstractAdjoint):
    """``jax.checkpoint`` per step: store the step's inputs, recompute the step backward."""

    checkpoint_every: Optional[int] = eqx.field(static=True, default=None, converter=_check_every)

    def wrap(self, step: Callable) -> Callable:
        return jax.checkpoint(step, prevent_cse=False)


class ReplayAdjoint(AbstractAdjoint):
    """Per-step checkpoint that keeps the values marked by :func:`mark_root`.

    The backward pass re-runs the step from its inputs but takes the marked root solves from
    the forward pass: the same derivatives as :class:`RecomputeAdjoint`, without repeating the
    iterations.
    """

    checkpoint_every: Optional[int] = eqx.field(static=True, default=None, converter=_check_every)

    def wrap(self, step: Callable) -> Callable:
        policy = jax.checkpoint_policies.save_only_these_names(ROOT)
        return jax.checkpoint(step, prevent_cse=False, policy=policy)


class FusedAdjoint(AbstractAdjoint):
    """The model's own whole-sequence kernel: one forward and one backward loop, in place.

    For models that register a kernel (:func:`register_sequence_kernel`; :class:`spikax.LIF`
    does, and uses this adjoint by default). The forward loop keeps only what the hand-derived
    derivative of a step needs, and the backward loop writes the input's cotangent into the
    buffer of the input itself, so a Linear+LIF layer's backward pass needs no memory beyond
    the forward pass's input and that residual. Values and gradients equal
    :class:`DirectAdjoint`'s up to float32 rounding; forward mode (``jax.jvp``) is not supported
    (use :class:`DirectAdjoint` for it). Calls the kernel does not cover (``record=``, noise,
    ``checkpoint_every``, a model without a kernel) run the generic loop as
    :class:`DirectAdjoint`.
    """

    checkpoint_every: Optional[int] = eqx.field(static=True, default=None, converter=_check_every)

    def wrap(self, step: Callable) -> Callable:
        return step


#: model class -> ``kernel(model, coeffs, state, xs) -> (ys, final_state) or None``.
_SEQUENCE_KERNELS: dict[type, Callable] = {}


def register_sequence_kernel(model_type: type, kernel: Callable) -> None:
    """Register ``kernel(model, coeffs, state, xs)`` as ``model_type``'s :class:`FusedAdjoint` path.

    The kernel runs a whole unbatched sequence ``xs`` ``(T, ...)`` from ``state`` with the
    coefficients of the model's ``derive`` and returns ``(ys, final_state)``, or ``None`` for a
    configuration it does not cover (the generic loop then runs).
    """
    _SEQUENCE_KERNELS[model_type] = kernel


def sequence_kernel(model) -> Optional[Callable]:
    """The kernel :class:`FusedAdjoint` runs for ``model``, or ``None`` (the generic loop)."""
    adjoint = getattr(model, "adjoint", None)
    if not isinstance(adjoint, FusedAdjoint) or adjoint.checkpoint_every is not None:
        return None
    return _SEQUENCE_KERNELS.get(type(model))
