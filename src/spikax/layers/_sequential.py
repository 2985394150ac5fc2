"""A stack of layers run one after the other, each over the whole sequence."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._types import AbstractLayer, step_shape

__all__ = ["Sequential"]


class Sequential(AbstractLayer):
    """Layers in order, each run over the whole ``(T, ...)`` sequence before the next.

    So a feed-forward :class:`spikax.Linear` between neuron layers is one matrix product over all
    ``T`` steps, not ``T`` small ones inside a loop. The state is a tuple of the layers' states;
    with ``record=True`` the record is a tuple of one dict per layer (``{}`` for stateless
    layers). A ``key`` is split into one key per layer.
    """

    layers: tuple

    def __init__(self, *layers: AbstractLayer):
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, AbstractLayer):
                raise TypeError(
                    f"layer {i} ({type(layer).__name__}) is not a spikax layer: it must be a spikax.AbstractLayer, "
                    "with `init_state(input_shape)` and `__call__(xs, state, *, key, record)`"
                )
        self.layers = tuple(layers)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def init_state(self, input_shape=None) -> tuple:
        if input_shape is None:
            raise ValueError("Sequential.init_state needs `input_shape`, the shape of one input step (e.g. (n_in,))")
        states = []
        shape = tuple(input_shape)
        for layer in self.layers:
            st = layer.init_state(shape)
            states.append(st)
            out = jax.eval_shape(lambda l=layer, s=st, x=shape: l(jnp.zeros((1,) + x), s, key=jax.random.key(0))[0])
            shape = step_shape(out)
        return tuple(states)

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs`` ``(T, ...)`` through every layer: ``(ys, tuple of states, record)``."""
        n = len(self.layers)
        if state is None:
            state = (None,) * n
        elif not isinstance(state, (tuple, list)) or len(state) != n:
            raise ValueError(f"`state` must be a tuple of {n} layer states (or None), got {type(state).__name__}")
        keys = (None,) * n if key is None else tuple(jax.random.split(key, n))
        states, records = [], []
        ys = xs
        for layer, st, k in zip(self.layers, state, keys):
            ys, st, rec = layer(ys, st, key=k, record=record)
            states.append(st)
            records.append(rec)
        return ys, tuple(states), (tuple(records) if record else None)
