r"""How reverse mode gets the intermediates of a time step: adjoints as objects.

Backpropagation through time needs, for every step, the values its derivative depends on.
:func:`spikax.simulate` runs the step through an adjoint, which decides where they come from
(in the manner of Diffrax's ``adjoint=`` objects):

| adjoint | what the forward pass keeps per step | what the backward pass recomputes |
|---|---|---|
| :class:`DirectAdjoint` | every residual autodiff asks for | nothing |
| :class:`RecomputeAdjoint` | the step's inputs (carry and input) | the whole step |
| :class:`ReplayAdjoint` | the step's inputs and its root solves | the step without its root solves |

:class:`ReplayAdjoint` is for steps that solve an implicit equation by iteration (the DYNAP-SE2
membrane current $I_{mem}(z)$, two Halley steps per stage): the solution is kept, the
iterations are not repeated, and the derivative of the solution comes from the implicit-function
rule of the solve's own ``custom_jvp``. A step marks each solution with :func:`mark_root`; the
adjoint is a ``jax.checkpoint`` whose policy saves exactly the marked values, so the recorded
and the replayed values are matched by JAX's own dataflow, not by call order. All three work in
forward mode (``jax.jvp``) too.

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

__all__ = ["ROOT", "AbstractAdjoint", "DirectAdjoint", "RecomputeAdjoint", "ReplayAdjoint", "mark_root"]

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
