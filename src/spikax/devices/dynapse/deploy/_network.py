"""A chip network as a spikax model: its parts, fan-in pruning, and its quantisation-aware form."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._circuit import SYNAPSES as _SYNAPSES
from ._mapping import CAM_ENTRIES

__all__ = ["prune_fan_in", "quantization_aware", "split_chip_network"]


def split_chip_network(model):
    """``(linear, cell, w_rec, tail)``: a chip network's input layer (DynapseLinear), its
    DynapSim, its recurrent weights (a Synapses or None) and the off-chip layers after it.

    ``model`` is ``Sequential(DynapseLinear, DynapSim | Recurrent(DynapSim), *tail)``, possibly
    in its trainable (reparameterised) form; the tail (e.g. a linear readout of the spike
    counts) runs on the host and must hold no DynapSim.
    """
    import spikax as sx

    from ....train._reparam import unwrap
    from .. import DynapseLinear, DynapSim

    model = unwrap(model)
    layers = tuple(model.layers) if isinstance(model, sx.Sequential) else (model,)
    shape = " -> ".join(type(layer).__name__ for layer in layers)
    if len(layers) < 2 or not isinstance(layers[0], DynapseLinear):
        raise ValueError(
            "`model` must be Sequential(DynapseLinear, DynapSim or Recurrent(DynapSim), ...off-chip layers), "
            f"got {shape}"
        )
    second = layers[1]
    if isinstance(second, sx.Recurrent) and isinstance(second.cell, DynapSim):
        cell, w_rec = second.cell, second.w_rec
    elif isinstance(second, DynapSim):
        cell, w_rec = second, None
    else:
        raise ValueError(f"`model`'s second layer must be DynapSim or Recurrent(DynapSim), got {shape}")
    for layer in layers[2:]:
        if any(isinstance(x, DynapSim) for x in _modules(layer)):
            raise ValueError(
                f"`model` has a second DynapSim layer ({shape}): only one chip layer (with its recurrence) is deployed"
            )
    return layers[0], cell, w_rec, layers[2:]


def _modules(tree):
    return [x for x in jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, eqx.Module)) if isinstance(x, eqx.Module)]


def _stack(synapses, n_pre, n_post) -> tuple[np.ndarray, tuple]:
    """(n_pre, n_post, 4) float64 weights (zeros for a type without weights) and the types present."""
    present = tuple(name for name, w in zip(_SYNAPSES, synapses.values()) if w is not None)
    out = np.asarray(synapses.to_array(), dtype=np.float64)
    if out.shape != (n_pre, n_post, 4):
        raise ValueError(f"weights of shape {out.shape[:2]} where ({n_pre}, {n_post}) was expected")
    return out, present



def _weight_slots(model):
    """The chip network's weight leaves as ``(getter, kind)``: kind "in2" / "in3" (the input
    layer's signed 2-D or per-type 3-D weight), "rec2" (a signed recurrent matrix) or
    ("rec", type) (one recurrent synapse type)."""
    import spikax as sx

    from ....train._reparam import SignedSynapses

    slots = [(lambda m: m.layers[0].weight, None)]
    second = model.layers[1]
    if isinstance(second, sx.Recurrent):
        w = second.w_rec
        if isinstance(w, SignedSynapses):
            slots.append((lambda m: m.layers[1].w_rec.weight, "rec2"))
        else:
            for k, name in enumerate(_SYNAPSES):
                if getattr(w, name) is not None:
                    slots.append((lambda m, name=name: getattr(m.layers[1].w_rec, name), ("rec", k)))
    return slots


def _check_chip_model(model):
    import spikax as sx

    split_chip_network(model)  # raises a clear error for anything else
    if not isinstance(model, sx.Sequential):
        raise ValueError("`model` must be a Sequential(DynapseLinear, Recurrent(DynapSim) or DynapSim, ...)")


def _mask_for(kind, physical_ndim, keep_in, keep_rec):
    if kind is None:  # the input layer
        return keep_in if physical_ndim == 3 else keep_in.any(-1)
    if kind == "rec2":
        return keep_rec.any(-1)
    return keep_rec[..., kind[1]]


def prune_fan_in(model, limit: int = CAM_ENTRIES, *, hold: bool = False):
    r"""Keep at most ``limit`` incoming connections per neuron (default 64, the CAM entries of a
    DYNAP-SE2 neuron): the strongest weight currents $|w|\,I_{scale}$ over the input and the
    recurrent weights and all synapse types (each non-zero (source, synapse type) pair is one
    CAM entry).

    ``model`` is a chip network (:func:`split_chip_network`), physical or trainable. With
    ``hold`` the pruned weights are wrapped in :class:`spikax.train.Masked`, so training keeps
    them at zero (``fit``'s default filter trains what is inside); otherwise they are set to
    zero (a trainable wrapper that cannot be zero, e.g. softplus, is masked either way).
    """
    from ....train._reparam import Masked, is_reparam

    _check_chip_model(model)
    if not (isinstance(limit, (int, np.integer)) and 1 <= limit):
        raise ValueError(f"`limit` must be an integer >= 1 (incoming connections per neuron), got {limit!r}")
    linear, cell, w_rec, _ = split_chip_network(model)
    n, n_in = cell.n_neurons, linear.in_features
    w_in3, _ = _stack(linear.to_synapses(), n_in, n)
    scores = [np.abs(w_in3)]
    if w_rec is not None:
        scores.append(np.abs(_stack(w_rec, n, n)[0]))
    # One column per target neuron: all its (source, type) entries, strongest first.
    flat = np.concatenate([s.transpose(1, 0, 2).reshape(n, -1) for s in scores], axis=1)  # (n, entries)
    order = np.argsort(-flat, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(flat.shape[1])[None, :], axis=1)
    keep = (rank < limit) & (flat > 0)
    split = n_in * 4
    keep_in = keep[:, :split].reshape(n, n_in, 4).transpose(1, 0, 2)
    keep_rec = keep[:, split:].reshape(n, n, 4).transpose(1, 0, 2) if w_rec is not None else None
    out = model
    for get, kind in _weight_slots(model):
        leaf = get(model)
        ndim = 3 if (kind is None and linear.weight.ndim == 3) else 2
        mask = jnp.asarray(_mask_for(kind, ndim, keep_in, keep_rec))
        if hold or is_reparam(leaf):
            new = Masked(leaf, mask)
        else:
            new = jnp.where(mask, leaf, 0.0)
        out = eqx.tree_at(get, out, new)
    return out


def quantization_aware(model, deployment):
    r"""The trainable form of the network ``deployment`` put on the chip: its biases are the
    chip's (one DAC-rounded set per core) and every weight is a
    :class:`~spikax.devices.dynapse.deploy.QuantizedWeight` over the float weight of ``model``,
    with the levels of its target neuron's core and the configuration's connections, so the
    forward pass is the deployed network's and the gradient reaches the float weights
    (straight-through). Fine-tune it with :func:`spikax.train.fit`, then deploy
    ``unwrap(result)`` again with ``base_weights=deployment.base_weights`` and
    ``cores=deployment.cores``: the configuration then runs exactly the fine-tuned network.
    """
    from ....train._reparam import Masked
    from ._quantize import QuantizedWeight, levels

    _check_chip_model(model)
    import spikax as sx

    chip = deployment.network()
    _, chip_cell, _, _ = split_chip_network(chip)
    linear, cell, w_rec, _ = split_chip_network(model)
    if cell.n_neurons != chip_cell.n_neurons or linear.in_features != chip.layers[0].in_features:
        raise ValueError(
            f"`model` ({linear.in_features} inputs, {cell.n_neurons} neurons) is not the network `deployment` "
            f"holds ({chip.layers[0].in_features} inputs, {chip_cell.n_neurons} neurons)"
        )
    c_lin, _, c_rec, _ = split_chip_network(chip)
    n, n_in = cell.n_neurons, linear.in_features
    have_in = _stack(c_lin.to_synapses(), n_in, n)[0] != 0
    have_rec = (_stack(c_rec, n, n)[0] != 0) if c_rec is not None else np.zeros((n, n, 4), bool)
    # The levels in units of each neuron's Iscale, computed as the configuration's weights are
    # (float64, then float32), so the forward pass is the configured network's to the bit.
    iscale = np.asarray(chip_cell.params.Iscale, dtype=np.float64)
    lv = (levels(deployment.base_weights)[deployment.cores] / iscale[:, None]).astype(np.float32)  # (n, 16)
    out = model
    second = model.layers[1]
    get_cell = (lambda m: m.layers[1].cell) if isinstance(second, sx.Recurrent) else (lambda m: m.layers[1])
    out = eqx.tree_at(lambda m: get_cell(m).params, out, chip_cell.params)
    for get, kind in _weight_slots(model):
        leaf = get(model)
        ndim = 3 if (kind is None and linear.weight.ndim == 3) else 2
        mask = jnp.asarray(_mask_for(kind, ndim, have_in, have_rec))
        # The configuration's connections are the mask: a Masked fan-in limit is implied by them.
        leaf = leaf.value if isinstance(leaf, Masked) else leaf
        out = eqx.tree_at(get, out, QuantizedWeight(leaf, lv, mask))
    return out
