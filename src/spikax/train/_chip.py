r"""Training DYNAP-SE2 networks: trainable forms, a freshly drawn chip per batch or sample, robustness curves.

- :func:`chip_network` builds the chip network the tasks train: spikes through a
  :class:`~spikax.devices.dynapse.DynapseLinear` onto a ``Recurrent`` layer of
  :class:`~spikax.devices.dynapse.DynapSim` neurons.
- :func:`chip_trainable` reparameterises it for training: recurrent weights as one signed
  matrix (:class:`~spikax.train.SignedSynapses`: $\max(W, 0)$ onto the excitatory synapse,
  $\max(-W, 0)$ onto the inhibitory one), per-synapse-type weights as softplus
  (:class:`~spikax.train.NonNegative`), and on request bias currents as logarithms
  (:class:`~spikax.train.Positive`), per neuron or shared by all (one bias set per core, as on the chip).
- :class:`ChipMismatch` draws one chip: every bias current and capacitance of every
  ``DynapSim`` deviates by ``percent`` (:func:`~spikax.devices.dynapse.apply_mismatch`), and every
  on-chip weight by the same relative spread, $w' = w\max(1 + \sigma\varepsilon, 0)$,
  $\varepsilon\sim\mathcal N(0, 1)$ per connection and synapse type (the synapse circuits
  mismatch too). Off-chip layers (a ``Linear`` readout) are left alone.
- :func:`evaluate_mismatch` measures a network over many drawn chips per mismatch level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray, PyTree

from .._validate import is_concrete
from ._reparam import NonNegative, Positive, SignedSynapses

__all__ = ["ChipMismatch", "chip_network", "chip_trainable", "evaluate_mismatch"]


def _dynapse():
    from ..devices import dynapse

    return dynapse


def chip_network(
    n_in: int,
    n_neurons: int,
    *,
    key: Optional[PRNGKeyArray],
    input_scale: float = 4.0,
    recurrent_scale: float = 0.01,
    recurrent: bool = True,
    excitatory: str = "ampa",
    inhibitory: str = "shunt",
    dt: float = 1e-3,
    **overrides,
):
    r"""``Sequential(DynapseLinear(n_in -> n_neurons), Recurrent(DynapSim(n_neurons), w_rec))``.

    Input weights start non-negative, $\mathcal U(0, s_{in}/\sqrt{n_{in}})$ on the excitatory
    synapse: random signed weights send every neuron strong GABA, which adds to the leak and
    keeps the membrane from charging (the whole layer silent, no gradient); training moves
    weights to inhibition where it helps. Recurrent weights start signed and small,
    $\mathcal U(-s_{rec}/\sqrt{n}, s_{rec}/\sqrt{n})$ (excitatory where positive, inhibitory
    where negative), without self-connections: GABA acts on the leak, where the default
    ``Itau_mem`` is 5 pA, while AMPA must lift the membrane current towards ``Ispkthr`` = 100 nA,
    so a GABA current is about a thousand times more potent than the same AMPA current. With
    the Japanese Vowels input, 128 neurons fire at 43 Hz on average with $s_{rec}$ = 0.01 and
    at 10 Hz (a quarter of them silent) with 0.1; without recurrence at 61 Hz
    ($s_{in}$ = 4). ``recurrent=False`` drops the ``Recurrent``.
    Weights are in units of ``Iscale`` (a unit weight of one spike sets ``Iw = Iscale``);
    ``overrides`` set any :class:`~spikax.devices.dynapse.DynapseParams` field.

    Inhibition goes to SHUNT by default, which subtracts from the input current as AMPA adds
    to it, so a weight crossing zero changes the drive smoothly. GABA is the other choice
    (``inhibitory="gaba"``); on Japanese Vowels (128 neurons, Adam 3e-3) it silenced the layer to
    7 Hz within four epochs, as the first weights crossing zero became GABA, and reached 81 %
    after 30 epochs where SHUNT reached 91 % after 11.
    """
    import spikax as sx

    if key is None:
        raise ValueError("`key` is required to draw the initial weights (jax.random.key(seed))")
    dx = _dynapse()
    k_in, k_rec = jax.random.split(key)
    w_in = jax.random.uniform(k_in, (n_in, n_neurons), minval=0.0, maxval=input_scale / np.sqrt(n_in))
    linear = dx.DynapseLinear(w_in, excitatory=excitatory, inhibitory=inhibitory)
    cell = dx.DynapSim.create(n_neurons, dt=dt, **overrides)
    if not recurrent:
        return sx.Sequential(linear, cell)
    bound = recurrent_scale / np.sqrt(n_neurons)
    w = jax.random.uniform(k_rec, (n_neurons, n_neurons), minval=-bound, maxval=bound)
    w = w * (1.0 - jnp.eye(n_neurons))
    w_rec = dx.Synapses(**{excitatory: jnp.maximum(w, 0.0), inhibitory: jnp.maximum(-w, 0.0)})
    return sx.Sequential(linear, sx.Recurrent(cell, w_rec))


def _map_layers(model, fn):
    """Apply ``fn(layer) -> layer`` to every layer of a Sequential (or to the model itself)."""
    import spikax as sx

    if isinstance(model, sx.Sequential):
        return sx.Sequential(*(fn(layer) for layer in model.layers))
    return fn(model)


def chip_trainable(
    model,
    *,
    biases: Union[None, str, Iterable[str]] = None,
    shared_biases: bool = False,
):
    r"""The trainable form of a chip network (every weight constrained by reparameterisation).

    - ``Recurrent(DynapSim)`` weights: one signed matrix (:class:`~spikax.train.SignedSynapses`)
      when they use one excitatory and one inhibitory synapse type, else softplus per type.
    - ``DynapseLinear``: a signed 2-D weight already is the signed form; a per-type
      ``(n_in, n_out, 4)`` weight becomes softplus.
    - ``biases``: ``None`` (fixed, the default), ``"all"`` (every bias current the mismatch
      model perturbs, :data:`~spikax.devices.dynapse.DEFAULT_MISMATCH`) or names such as
      ``("Itau_mem", "Igain_mem")``: each becomes a log parameter, per neuron or, with
      ``shared_biases``, one value for the layer (all neurons of a core share a bias set).

    ``spikax.train.unwrap`` gives back the physical model; :func:`~spikax.train.default_filter`
    trains every wrapped leaf and the weights.
    """
    import spikax as sx

    dx = _dynapse()
    if biases is None:
        names: tuple = ()
    elif biases == "all":
        names = tuple(n for n in dx.DEFAULT_MISMATCH if n.startswith("I"))
    else:
        names = (biases,) if isinstance(biases, str) else tuple(biases)
        unknown = sorted(set(names) - set(dx.PARAMETER_NAMES))
        if unknown:
            raise ValueError(f"`biases`: unknown DYNAP-SE2 parameter(s) {unknown}; known: {dx.PARAMETER_NAMES}")
        not_currents = [n for n in names if not n.startswith("I")]
        if not_currents:
            raise ValueError(f"`biases` must name bias currents (I...), got {not_currents}")

    def wrap_params(cell):
        params = cell.params
        for name in names:
            params = eqx.tree_at(
                lambda p, name=name: getattr(p, name), params, Positive.of(getattr(params, name), shared=shared_biases)
            )
        return eqx.tree_at(lambda c: c.params, cell, params)

    def wrap_synapses(w):
        try:
            return SignedSynapses.of(w)
        except ValueError:
            return jax.tree.map(lambda a: NonNegative.of(a), w)

    found = []
    from ._reparam import Masked

    if any(isinstance(x, Masked) for x in jax.tree.leaves(model, is_leaf=lambda x: isinstance(x, Masked))):
        raise ValueError(
            "`model` holds Masked weights (a held fan-in): make it trainable first, then prune, "
            "prune_fan_in(chip_trainable(model), 64, hold=True)"
        )

    def fn(layer):
        if isinstance(layer, dx.DynapseLinear):
            if layer.weight.ndim == 3:
                return eqx.tree_at(lambda l: l.weight, layer, NonNegative.of(layer.weight))
            return layer
        if isinstance(layer, sx.Recurrent) and isinstance(layer.cell, dx.DynapSim):
            found.append(layer)
            layer = eqx.tree_at(lambda l: l.w_rec, layer, wrap_synapses(layer.w_rec))
            return eqx.tree_at(lambda l: l.cell, layer, wrap_params(layer.cell))
        if isinstance(layer, dx.DynapSim):
            found.append(layer)
            return wrap_params(layer)
        return layer

    out = _map_layers(model, fn)
    if not found:
        raise ValueError("`model` has no DynapSim layer (a Sequential of DynapseLinear and Recurrent(DynapSim))")
    return out


def _as_percent(percent) -> Array:
    if isinstance(percent, (str, bytes)):
        raise TypeError(f"`percent` must be a number (relative std in %), got {percent!r}")
    p = jnp.asarray(percent, dtype=jnp.float32)
    if p.ndim != 0:
        raise ValueError(f"`percent` must be a scalar, got shape {p.shape}")
    if is_concrete(p) and not (bool(jnp.isfinite(p)) and float(p) >= 0):
        raise ValueError(f"`percent` must be a finite number >= 0 (relative std in %), got {percent!r}")
    return p


class ChipMismatch(eqx.Module):
    r"""Draw a chip: ``ChipMismatch(percent)(model, key)`` is ``model`` on the chip ``key``.

    Every ``DynapSim``'s bias currents and capacitances deviate by ``percent`` % (one std;
    :func:`~spikax.devices.dynapse.apply_mismatch` with ``spec``), and with ``weights`` every
    on-chip weight too: $w' = w\max(1 + \frac{percent}{100}\varepsilon, 0)$. Used as
    ``fit(perturb=ChipMismatch(20.0))`` it trains on a freshly drawn chip every batch; the
    mismatch is differentiable, so the gradient is that of the drawn chip. Every
    ``perturb(model, *, key)`` the fit loop takes has this signature.
    """

    percent: Array
    weights: bool = eqx.field(static=True)
    spec: Optional[tuple] = eqx.field(static=True)

    def __init__(self, percent: ArrayLike = 10.0, *, weights: bool = True, spec: Optional[Sequence[str]] = None):
        self.percent = _as_percent(percent)
        self.weights = bool(weights)
        self.spec = None if spec is None else tuple(spec)

    def __repr__(self):
        # The percentage as a number: this string identifies a run's configuration.
        return f"ChipMismatch({float(self.percent)!r}, weights={self.weights}, spec={self.spec})"

    def __call__(self, model, *, key: Optional[PRNGKeyArray]):
        import spikax as sx

        from ._reparam import unwrap

        if key is None:
            raise ValueError("`key` is required: it decides which chip is drawn (jax.random.key(seed))")
        dx = _dynapse()
        # Mismatch acts on the physical values (a wrapped, trainable model is resolved first).
        model = unwrap(model)
        sigma = self.percent / 100.0
        counter = iter(range(1 << 20))

        def draw(w):
            if w is None:
                return None
            eps = jax.random.normal(jax.random.fold_in(key, next(counter)), jnp.shape(w), jnp.result_type(w))
            return w * jnp.maximum(1.0 + sigma * eps, 0.0)

        def chip(cell):
            params = dx.apply_mismatch(jax.random.fold_in(key, next(counter)), cell.params, self.percent, self.spec)
            return eqx.tree_at(lambda c: c.params, cell, params)

        def fn(layer):
            if isinstance(layer, dx.DynapseLinear):
                return eqx.tree_at(lambda l: l.weight, layer, draw(layer.weight)) if self.weights else layer
            if isinstance(layer, sx.Recurrent) and isinstance(layer.cell, dx.DynapSim):
                if self.weights:
                    w_rec = jax.tree.map(draw, layer.w_rec)
                    layer = eqx.tree_at(lambda l: l.w_rec, layer, w_rec)
                return eqx.tree_at(lambda l: l.cell, layer, chip(layer.cell))
            if isinstance(layer, dx.DynapSim):
                return chip(layer)
            return layer

        return _map_layers(model, fn)


def evaluate_mismatch(
    model: PyTree,
    data: tuple,
    *,
    objective: Callable,
    key: Optional[PRNGKeyArray],
    percents: Sequence[float] = (0.0, 5.0, 10.0, 20.0, 30.0),
    n_chips: int = 50,
    metric: str = "accuracy",
    batch_size: int = 128,
    weights: bool = True,
    progress: bool = False,
    devices=None,
) -> dict:
    r"""``metric`` of ``model`` on ``data`` over ``n_chips`` drawn chips per mismatch level.

    Chip ``c`` at level ``p`` is ``ChipMismatch(p)(model, key=fold_in(split(key)[0], c))``: the same chips
    (the same deviations $\varepsilon$, scaled) at every level, so the curve is smooth in ``p``
    and reproducible from ``key``. At 0 % every chip is the nominal one. Each chip is an
    :func:`spikax.train.evaluate` with ``key=split(key)[1]``, its batches split over ``devices``
    (default: every device), all chips through the one compiled evaluation step (the one
    training compiled, for the same objective). Returns ``{"percent": [...], "mean": [...],
    "std": [...], "values": [[per chip] per level], "metric": metric}``.

    (A :func:`spikax.distributed.ensemble` over the chips, every chip's whole evaluation in one
    program, ran 25 % faster per chip on one device but took 3-5 s longer to compile: with the
    chips vectorised, the refractory ``lax.cond`` of every step computes both branches.)
    """
    from ..distributed import batch_mesh
    from ._fit import _check_positive_int, _make_eval_step, _n_samples, _resident, evaluate
    from ._reparam import unwrap

    n_chips = _check_positive_int("n_chips", n_chips)
    if key is None:
        raise ValueError("`key` is required: it decides which chips are drawn")
    if not isinstance(metric, str):
        raise TypeError(f"`metric` must be a metric's name (e.g. 'accuracy'), got {metric!r}")
    physical = unwrap(model)
    mesh = batch_mesh(devices)
    step = _make_eval_step(objective, mesh)
    _n_samples(data, "data")
    data = _resident(data, mesh)  # once, not once per chip
    levels = [float(_as_percent(p)) for p in percents]
    bar = None
    if progress and jax.process_index() == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(n_chips if p > 0 else 1 for p in levels), unit="chip")
    values = []
    k_chips, k_eval = jax.random.split(key)

    def value(net):
        v = evaluate(net, data, objective=objective, batch_size=batch_size, key=k_eval, devices=mesh, _step=step)
        if metric not in v:
            raise ValueError(f"`metric` = {metric!r} is not one of the objective's metrics {sorted(v)}")
        if bar is not None:
            bar.update(1)
        return v[metric]

    try:
        for p in levels:
            if p == 0.0:
                # Every chip is the nominal one: evaluate once (with the same sample keys).
                values.append([value(physical)] * n_chips)
                continue
            perturb = ChipMismatch(p, weights=weights)
            values.append([value(perturb(physical, key=jax.random.fold_in(k_chips, c))) for c in range(n_chips)])
    finally:
        if bar is not None:
            bar.close()
    a = np.asarray(values)
    return {"percent": levels, "mean": a.mean(1).tolist(), "std": a.std(1).tolist(), "values": values, "metric": metric}
