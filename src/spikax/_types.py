r"""Type aliases, the abstract surrogate, the abstract layer and the one abstract neuron base.

Every neuron model is a final subclass of :class:`AbstractNeuron` and runs one step as three
stages (SpikingJelly's decomposition, Fang et al. 2023, doi:10.1126/sciadv.adi1480):

$$h = \mathrm{charge}(c, s_{t-1}, x_t),\qquad y_t = \mathrm{fire}(c, h),\qquad
s_t = \mathrm{reset}(c, h, y_t)$$

with $c = \mathrm{derive}(p, dt)$ the loop invariants computed once from the parameters $p$
(outside the time loop) and $s$ the state. The base owns the loop (:meth:`AbstractNeuron.__call__`
through :func:`spikax.simulate`), so a model only says what its stages are. Equinox's
abstract/final rule holds throughout: a class is abstract or final, and only abstract methods
and attributes are ever implemented by a subclass.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from collections.abc import Callable
from typing import Any, Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from ._adjoint import AbstractAdjoint, sequence_kernel
from ._validate import check_final_state, check_finite
from .simulate import record_function, simulate

__all__ = [
    "AbstractLayer",
    "AbstractNeuron",
    "AbstractSurrogate",
    "Array",
    "Float",
    "Key",
    "ParamLike",
    "PRNGKeyArray",
    "PyTree",
    "RecordSpec",
    "Scalar",
    "ScalarLike",
    "check_state",
    "starting_state",
    "step_shape",
]

Scalar = Float[Array, ""]
ScalarLike = Union[float, Float[ArrayLike, ""]]
#: A parameter value as constructors take it: a number, an array, or a (nested) list of numbers.
ParamLike = Union[ArrayLike, Sequence[Any]]
#: ``record=`` argument of every model: ``False``/``None`` (nothing), ``True`` (every
#: state field) or a function ``fn(state, output) -> PyTree`` choosing what is kept.
RecordSpec = Union[bool, None, Callable[[Any, Any], PyTree]]
Key = Optional[PRNGKeyArray]


class AbstractSurrogate(eqx.Module):
    """A spike function: a step forward, a chosen derivative backward.

    Called as ``spike_fn(v, threshold, fire_at=">=")`` and returning spikes (floats) with the
    shape of ``jnp.broadcast(v, threshold)``. Shape parameters (slope, width) are array fields so
    that a family can be swept with ``jax.vmap``.
    """

    @abc.abstractmethod
    def __call__(self, v: Array, threshold: ArrayLike, fire_at: str = ">=") -> Array:
        raise NotImplementedError


class AbstractLayer(eqx.Module):
    """A layer of a network, unbatched: it runs one sample ``(T, ...)``, time first.

    ``init_state(input_shape)`` gives the state before the first step for input steps of
    shape ``input_shape`` (``None`` for a stateless layer), and
    ``layer(xs, state=None, *, key=None, record=False) -> (ys, final_state, record)`` runs a
    whole sequence. Batches are ``jax.vmap`` over the layer.
    """

    @abc.abstractmethod
    def init_state(self, input_shape: Optional[tuple[int, ...]] = None) -> PyTree:
        """The state before the first step."""

    @abc.abstractmethod
    def __call__(
        self, xs: PyTree, state: PyTree = None, *, key: Key = None, record: RecordSpec = False
    ) -> tuple[PyTree, PyTree, PyTree]:
        """Run a whole sequence: ``outputs, final_state, record``."""


def step_shape(xs: PyTree) -> tuple[int, ...]:
    """The shape of one step of a sequence (its first array's shape without the time axis)."""
    leaves = jax.tree.leaves(xs)
    if not leaves:
        raise ValueError("`xs` has no arrays")
    return tuple(jnp.shape(leaves[0])[1:])


def check_state(layer: AbstractLayer, state: PyTree, input_shape: tuple[int, ...], name: str = "state") -> None:
    """``state`` must have the structure, shapes and dtypes of ``layer.init_state(input_shape)``.

    A state from another model, or from the same model at another size, is a ``ValueError``
    naming ``state`` (instead of a broadcasting error deep inside the step).
    """
    expected = jax.eval_shape(lambda: layer.init_state(input_shape))
    what = type(layer).__name__
    got_leaves, got_def = jax.tree.flatten(state)
    want_leaves, want_def = jax.tree.flatten(expected)
    if got_def != want_def:
        raise ValueError(
            f"`{name}` is not a state of this {what}: expected {_describe_tree(expected)}, got "
            f"{_describe_tree(state)} (pass the state this model returned, or None to start at rest)"
        )
    for path_leaf, got, want in zip(jax.tree_util.tree_leaves_with_path(expected), got_leaves, want_leaves):
        where = f"`{name}{jax.tree_util.keystr(path_leaf[0])}`"
        if jnp.shape(got) != want.shape:
            raise ValueError(
                f"{where} has shape {jnp.shape(got)}, but this {what} expects {want.shape} "
                "(a state from a model of another size?)"
            )
        if jnp.result_type(got) != want.dtype:
            raise ValueError(f"{where} has dtype {jnp.result_type(got)}, but this {what} expects {want.dtype}")
    check_finite(name, state)


def starting_state(layer: AbstractLayer, state: PyTree, xs: PyTree) -> PyTree:
    """The state a run of ``xs`` starts from: ``layer.init_state`` for ``None``, else ``state``
    checked against it (:func:`check_state`)."""
    if state is None:
        return layer.init_state(step_shape(xs))
    check_state(layer, state, step_shape(xs))
    return state


def _describe_tree(tree) -> str:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    fields = ", ".join(f"{jax.tree_util.keystr(p).lstrip('.')}{tuple(jnp.shape(x))}" for p, x in leaves)
    return f"{type(tree).__name__}({fields})"


class AbstractNeuron(AbstractLayer):
    r"""The one abstract base of every neuron model: parameters, stages, and the loop.

    A final subclass provides

    - ``params``: its parameter PyTree (SI units, NIR names; the contract every stage reads),
      ``dt`` (s, static) and ``adjoint`` (how reverse mode treats a step);
    - :meth:`init_state`, :meth:`prepare` (input checks and layout, per-step randomness),
      :meth:`derive`, :meth:`charge`, :meth:`fire`, :meth:`reset` and :meth:`observe`.

    Each stage is a pure function of its arguments: a model's configuration (surrogate,
    integration method) is static, and everything that depends on parameter values is computed
    from ``params`` by :meth:`derive` when the model runs, never stored. So a model stays right
    after ``eqx.tree_at``, an optimiser step, ``jax.vmap`` over its parameters or a restored
    checkpoint.
    """

    params: eqx.AbstractVar[Any]
    dt: eqx.AbstractVar[float]
    adjoint: eqx.AbstractVar[AbstractAdjoint]

    @abc.abstractmethod
    def prepare(self, xs: PyTree, key: Key, *, name: str = "xs") -> tuple[PyTree, PyTree]:
        """Check a whole input sequence and lay it out for the steps: ``(xs, per_step)``.

        ``per_step`` is ``None`` or a coefficient PyTree of :meth:`derive`'s type holding only
        the time-varying coefficients (e.g. membrane noise drawn from ``key``), each with a
        leading time axis; the loop merges step ``t`` of it into the coefficients. ``name`` is
        the argument named in error messages.
        """

    @abc.abstractmethod
    def derive(self, params: Any, dt: float) -> Any:
        """Loop invariants (decay factors, jump sizes, ...) from ``params`` and ``dt``: pure."""

    @abc.abstractmethod
    def charge(self, coeffs: Any, state: Any, x: PyTree) -> Any:
        """The state after one step of the dynamics, before firing: $h$."""

    @abc.abstractmethod
    def fire(self, coeffs: Any, h: Any) -> Array:
        """The step's output from the charged state: spikes (or, for a leaky integrator, $v$)."""

    @abc.abstractmethod
    def reset(self, coeffs: Any, h: Any, y: Array) -> Any:
        """The state the next step starts from, given the charged state and the output."""

    @abc.abstractmethod
    def observe(self, coeffs: Any, state: Any, y: Array) -> dict:
        """Quantities derived from a step that ``record=True`` adds to the state's fields."""

    def advance(self, coeffs: Any, state: Any, x: PyTree, per_step: PyTree = None) -> tuple[Any, Array]:
        """One step, charge / fire / reset, with the coefficients of :meth:`derive`.

        ``per_step`` is one step of :meth:`prepare`'s time-varying coefficients, or ``None``.
        """
        if per_step is not None:
            coeffs = eqx.combine(coeffs, per_step)
        h = self.charge(coeffs, state, x)
        y = self.fire(coeffs, h)
        return self.reset(coeffs, h, y), y

    def step(self, state: Any, x: PyTree, *, key: Key = None) -> tuple[Any, Array]:
        """One time step outside any loop: ``(state, x_t) -> (state, output_t)``.

        Convenient interactively and in tests; a sequence is far faster through ``__call__``,
        which derives the loop invariants once.
        """
        xs, per_step = self.prepare(jax.tree.map(lambda a: jnp.asarray(a)[None], x), key, name="x")
        check_finite("x", xs), check_finite("params", self.params)
        check_state(self, state, step_shape(xs))
        first = None if per_step is None else jax.tree.map(lambda a: a[0], per_step)
        state, y = self.advance(self.derive(self.params, self.dt), state, jax.tree.map(lambda a: a[0], xs), first)
        return check_final_state(type(self).__name__, state, y, self.params)

    def __call__(
        self, xs: PyTree, state: Any = None, *, key: Key = None, record: RecordSpec = False
    ) -> tuple[Array, Any, PyTree]:
        """Run ``xs`` ``(T, ...)``: returns ``(outputs (T, ...), final state, record)``.

        ``record=True`` gives every state field by name, time first (plus what the model
        derives, see :meth:`observe`); ``record=fn`` keeps ``fn(state, output)`` of each step.
        Models that draw noise need ``key``. Non-finite inputs or parameters raise, naming
        them; under ``jit`` a state that became non-finite raises (see
        :func:`spikax.set_runtime_checks`);
        so does a ``state`` of another model or size.
        """
        xs, per_step = self.prepare(xs, key)
        check_finite("xs", xs), check_finite("params", self.params)
        coeffs = self.derive(self.params, self.dt)
        state = starting_state(self, state, xs)

        kernel = sequence_kernel(self) if per_step is None and record_function(record) is None else None
        fused = None if kernel is None else kernel(self, coeffs, state, xs)
        if fused is not None:
            (ys, final), rec = fused, None
        else:

            def step(st, inputs):
                x, p = inputs
                return self.advance(coeffs, st, x, p)

            observe = lambda st, y: self.observe(coeffs, st, y)  # noqa: E731
            ys, final, rec = simulate(
                step, state, (xs, per_step), record=record_function(record, observe), adjoint=self.adjoint
            )
        final, (ys, rec) = check_final_state(type(self).__name__, final, (ys, rec), self.params)
        return ys, final, rec
