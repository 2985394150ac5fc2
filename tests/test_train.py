"""spikax.train: losses in closed form, reparameterisations, the fit loop, resume, chip mismatch."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import spikax as sx
from spikax.devices import dynapse as dx


def test_cross_entropy_of_spike_counts_in_closed_form():
    counts = jnp.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    labels = jnp.array([0, 1])
    z = np.exp([3.0, 1.0, 0.0])
    want = -(np.log(z[0] / z.sum()) + np.log(1.0 / (2.0 + np.exp(5.0)))) / 2
    np.testing.assert_allclose(float(sx.train.spike_count_cross_entropy(counts, labels)), want, rtol=1e-6)
    # Its gradient is softmax - onehot, averaged over the batch.
    g = jax.grad(sx.train.spike_count_cross_entropy)(counts, labels)
    p = jax.nn.softmax(counts, axis=-1)
    np.testing.assert_allclose(g, (p - jax.nn.one_hot(labels, 3)) / 2, rtol=1e-5, atol=1e-7)
    assert float(sx.train.spike_count_accuracy(counts, labels)) == 0.5


def test_max_membrane_cross_entropy_rate_mse_and_regulariser_in_closed_form():
    v = jnp.array([[[0.0, 1.0], [2.0, -1.0], [1.0, 0.5]]])  # (B=1, T=3, 2): maxima 2 and 1
    want = -np.log(np.exp(2.0) / (np.exp(2.0) + np.exp(1.0)))
    np.testing.assert_allclose(float(sx.train.max_membrane_cross_entropy(v, jnp.array([0]))), want, rtol=1e-6)
    np.testing.assert_allclose(float(sx.train.rate_mse(jnp.array([[10.0, 0.0]]), jnp.array([[7.0, 4.0]]))), 12.5)
    reg = sx.train.RateRegulariser(lower=2.0, upper=10.0, strength=0.5)
    # Neuron rates 0, 5, 14 Hz: (2-0)^2 below, nothing inside, (14-10)^2 above; mean over 3.
    np.testing.assert_allclose(float(reg(jnp.array([0.0, 5.0, 14.0]))), 0.5 * (4.0 + 16.0) / 3, rtol=1e-6)
    with pytest.raises(ValueError, match="lower <= upper"):
        sx.train.RateRegulariser(lower=5.0, upper=1.0)


def test_loss_errors():
    # Under the tests' run-time type checks the annotation catches the shape first (TypeError).
    with pytest.raises((ValueError, TypeError), match="counts"):
        sx.train.spike_count_cross_entropy(jnp.ones(3), jnp.array([0]))
    with pytest.raises((ValueError, TypeError), match="labels"):
        sx.train.spike_count_cross_entropy(jnp.ones((2, 3)), jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="readout"):
        sx.train.Classification(readout="softmax")


# --------------------------------------------------------------------------- reparameterisations


def test_reparameterisations_give_their_values_and_scale_free_gradients():
    current = jnp.array([5e-12, 2e-9, 1e-7])
    pos = sx.train.Positive.of(current)
    np.testing.assert_allclose(pos.unwrap(), current, rtol=1e-6)
    shared = sx.train.Positive.of(current, shared=True)
    assert shared.log.shape == () and shared.unwrap().shape == (3,)
    np.testing.assert_allclose(shared.unwrap(), np.exp(np.mean(np.log(np.asarray(current, np.float64)))), rtol=1e-6)
    # d/d(log I) f(I) = I f'(I): the gradient is per e-fold, whatever the current's scale.
    f = lambda i: jnp.sum(jnp.sqrt(i))
    g_log = jax.grad(lambda p: f(p.unwrap()))(pos).log
    np.testing.assert_allclose(g_log, current * 0.5 / jnp.sqrt(current), rtol=1e-5)
    w = jnp.array([0.0, 0.3, 4.0])
    np.testing.assert_allclose(sx.train.NonNegative.of(w).unwrap(), [1e-3, 0.3, 4.0], rtol=1e-5)
    signed = sx.train.SignedSynapses(jnp.array([[0.5, -0.25]]), inhibitory="shunt")
    syn = signed.unwrap()
    np.testing.assert_array_equal(syn.ampa, [[0.5, 0.0]])
    np.testing.assert_array_equal(syn.shunt, [[0.0, 0.25]])
    assert syn.nmda is None and syn.gaba is None
    np.testing.assert_array_equal(sx.train.SignedSynapses.of(syn).weight, signed.weight)
    with pytest.raises(ValueError, match="> 0"):
        sx.train.Positive.of(jnp.array([1.0, 0.0]))


def test_default_filter_trains_weights_and_wrapped_biases_only():
    model = sx.Sequential(sx.Linear.create(3, 4, key=jax.random.key(0)), sx.LIF.create(4))
    spec = sx.train.default_filter(model)
    assert spec.layers[0].weight is True and spec.layers[0].bias is True
    assert not any(jax.tree.leaves(spec.layers[1]))  # LIF parameters and the surrogate's slope stay fixed
    net = sx.train.chip_trainable(sx.train.chip_network(3, 2, key=jax.random.key(1)), biases=("Itau_mem",))
    spec = sx.train.default_filter(net)
    assert spec.layers[0].weight is True and spec.layers[1].w_rec.weight is True
    params = spec.layers[1].cell.params
    assert params.Itau_mem.log is True and params.Igain_mem is False and params.Ispkthr is False


# --------------------------------------------------------------------------- the fit loop


def _toy(n=16, t=20, seed=0):
    """Two classes told apart by which half of 4 input channels is driven."""
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int32) % 2
    rates = np.where((np.arange(4)[None] < 2) == (y[:, None] == 0), 0.5, 0.05)
    x = (rng.random((n, t, 4)) < rates[:, None, :]).astype(np.float32)
    return x, y


def _lif_net(key):
    k1, k2 = jax.random.split(key)
    surrogate = sx.surrogate.FastSigmoid(5.0)
    return sx.Sequential(
        sx.Linear.create(4, 8, key=k1), sx.LIF.create(8, tau_syn=5e-3, spike_fn=surrogate),
        sx.Linear.create(8, 2, key=k2), sx.LI.create(tau=10e-3),
    )


def _fit(model, data, epochs, **kw):
    kw.setdefault("objective", sx.train.Classification(readout="max"))
    return sx.train.fit(model, data, optimiser=optax.adam(5e-2), epochs=epochs, batch_size=4,
                        key=jax.random.key(3), progress=False, **kw)


def test_fit_lowers_the_loss_and_writes_metrics(tmp_path):
    data = _toy()
    res = _fit(_lif_net(jax.random.key(0)), data, 8, eval_data=data, metrics_path=tmp_path / "m.jsonl")
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.6 * losses[0], losses
    assert res.history[-1]["eval_accuracy"] == 1.0
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == list(range(1, 9))
    assert {"train_loss", "train_accuracy", "train_rate_hz", "eval_loss", "step_share"} <= set(lines[0])
    # The fixed parameters did not move; the weights did.
    model0 = _lif_net(jax.random.key(0))
    assert eqx.tree_equal(res.model.layers[1], model0.layers[1])
    assert not np.allclose(res.model.layers[0].weight, model0.layers[0].weight)


def _jitter_weights(model, *, key):
    """A perturbation drawn once per batch (exercises the perturbation keys)."""
    w = model.layers[0].weight
    return eqx.tree_at(lambda m: m.layers[0].weight, model, w * (1 + 0.1 * jax.random.normal(key, w.shape)))


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    data = _toy(n=8)
    # Membrane noise (per-sample keys) and a per-batch perturbation: every key of the loop matters.
    noisy = eqx.tree_at(lambda m: m.layers[1], _lif_net(jax.random.key(1)),
                        sx.LIF.create(8, tau_syn=5e-3, spike_fn=sx.surrogate.FastSigmoid(5.0), noise_std=0.5))
    model = noisy
    straight = _fit(model, data, 3, perturb=_jitter_weights)

    class Interrupt(Exception):
        pass

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise Interrupt

    ckpt = tmp_path / "run.spikax"
    with pytest.raises(Interrupt):
        _fit(model, data, 3, checkpoint_path=ckpt, on_epoch=stop_after_first, metrics_path=tmp_path / "m.jsonl",
             perturb=_jitter_weights)
    # Without resume=True an existing run is never overwritten.
    with pytest.raises(ValueError, match="resume=True"):
        _fit(model, data, 3, checkpoint_path=ckpt, perturb=_jitter_weights)
    resumed = _fit(model, data, 3, checkpoint_path=ckpt, resume=True, metrics_path=tmp_path / "m.jsonl",
                   perturb=_jitter_weights)
    for a, b in zip(jax.tree.leaves(straight.model), jax.tree.leaves(resumed.model)):
        np.testing.assert_array_equal(a, b)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3
    # Another batch size is another run: refused, and the checkpoint is left as it was.
    before = ckpt.read_bytes()
    with pytest.raises(ValueError, match="batch_size"):
        sx.train.fit(model, data, objective=sx.train.Classification(readout="max"), optimiser=optax.adam(2e-2),
                     epochs=4, batch_size=2, key=jax.random.key(3), progress=False, checkpoint_path=ckpt, resume=True,
                     perturb=_jitter_weights)
    with pytest.raises(ValueError, match="`key`"):
        sx.train.fit(model, data, objective=sx.train.Classification(readout="max"), optimiser=optax.adam(2e-2),
                     epochs=4, batch_size=4, key=jax.random.key(4), progress=False, checkpoint_path=ckpt, resume=True,
                     perturb=_jitter_weights)
    with pytest.raises(ValueError, match="perturb"):
        _fit(model, data, 4, checkpoint_path=ckpt, resume=True)
    assert ckpt.read_bytes() == before
    # So is a checkpoint of another model.
    with pytest.raises(ValueError, match="different model"):
        _fit(sx.Sequential(*_lif_net(jax.random.key(1)).layers[:2], sx.Linear.create(8, 3, key=jax.random.key(2)),
                           sx.LI.create()), data, 4, checkpoint_path=ckpt, resume=True)
    assert ckpt.read_bytes() == before


def test_early_stopping_restores_the_best_epoch():
    data = _toy(n=8)
    stop = sx.train.EarlyStopping(patience=1, monitor="eval_loss", min_delta=1e9)  # nothing ever improves enough
    res = _fit(_lif_net(jax.random.key(0)), data, 5, eval_data=data, early_stopping=stop)
    assert len(res.history) == 2 and res.run.best_epoch == 1
    assert not eqx.tree_equal(res.model, res.run.model)


def test_fit_configuration_errors():
    data = _toy(n=8)
    model = _lif_net(jax.random.key(0))
    with pytest.raises(ValueError, match="batch_size"):
        sx.train.fit(
            model, data, objective=sx.train.Classification(), optimiser=optax.adam(1e-3), epochs=1, batch_size=9,
            key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match="epochs"):
        _fit(model, data, -1)
    with pytest.raises(ValueError, match="leading sample axis"):
        _fit(model, (data[0], data[1][:5]), 1)
    bad = data[0].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _fit(model, (bad, data[1]), 1)
    with pytest.raises(ValueError, match="nothing to train"):
        _fit(model, data, 1, filter_spec=jax.tree.map(lambda _: False, model))
    with pytest.raises(ValueError, match="eval_data"):
        _fit(model, data, 1, early_stopping=sx.train.EarlyStopping())
    with pytest.raises(ValueError, match="key"):
        sx.train.fit(model, data, objective=sx.train.Classification(), optimiser=optax.adam(1e-3), epochs=1,
                     batch_size=4, key=None, progress=False)
    with pytest.raises(ValueError, match="labels"):
        _fit(model, (data[0], data[1].astype(np.float32)), 1)
    with pytest.raises(ValueError, match="labels"):
        _fit(model, (data[0], data[1][:, None]), 1)
    # Labels beyond the model's two classes: the loss is NaN, and the loop says so at once.
    with pytest.raises(ValueError, match="training loss is nan in epoch 1"):
        _fit(model, (data[0], data[1] + 5), 1)


def test_evaluate_pads_the_last_batch_without_weighting_it():
    x, y = _toy(n=7)
    model = _lif_net(jax.random.key(0))
    objective = sx.train.Classification(readout="max")
    one = sx.train.evaluate(model, (x, y), objective=objective, batch_size=7, key=jax.random.key(0))
    three = sx.train.evaluate(model, (x, y), objective=objective, batch_size=3, key=jax.random.key(0))
    # Deterministic model: batches of 3, 3 and 1 (padded to 3) give the means over all 7.
    losses = eqx.filter_jit(jax.vmap(lambda a, b: objective(model, a, b)[0]))(jnp.asarray(x), jnp.asarray(y))
    np.testing.assert_allclose([one["loss"], three["loss"]], np.mean(losses), rtol=1e-5)
    assert one["accuracy"] == pytest.approx(three["accuracy"], rel=1e-6)


# --------------------------------------------------------------------------- chips


def _chip_toy():
    net = sx.train.chip_network(4, 3, key=jax.random.key(0), input_scale=6.0)
    model = sx.Sequential(*sx.train.chip_trainable(net, biases=("Itau_mem",)).layers,
                          sx.Linear(0.05 * jnp.ones((3, 2)) * jnp.array([[1.0, -1.0]]), None))
    return model


def test_chip_network_trains_weights_and_log_biases():
    # The gradient scale of a chip network is checked by test_train_example (frozen noise).
    x, y = _toy(n=4, t=25)
    model = _chip_toy()
    objective = sx.train.Classification(readout="sum")
    res = sx.train.fit(model, (x, y), objective=objective, optimiser=optax.adam(3e-2), epochs=3, batch_size=4,
                       key=jax.random.key(0), progress=False)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    physical = res.physical
    assert isinstance(physical.layers[1].w_rec, dx.Synapses)
    assert float(jnp.min(physical.layers[1].w_rec.ampa)) >= 0 and float(jnp.min(physical.layers[1].w_rec.shunt)) >= 0
    assert not np.allclose(physical.layers[1].cell.params.Itau_mem, model.layers[1].cell.params.Itau_mem.unwrap(),
                           rtol=1e-3, atol=0.0)


def test_chip_mismatch_draws_a_chip_from_its_key():
    model = sx.train.unwrap(_chip_toy())
    a = sx.train.ChipMismatch(20.0)(model, key=jax.random.key(5))
    b = sx.train.ChipMismatch(20.0)(model, key=jax.random.key(5))
    c = sx.train.ChipMismatch(20.0)(model, key=jax.random.key(6))
    assert eqx.tree_equal(a, b)
    assert not np.allclose(a.layers[1].cell.params.Itau_mem, c.layers[1].cell.params.Itau_mem, rtol=1e-3, atol=0)
    # Weights deviate too, stay >= 0 per synapse type, and the off-chip readout is left alone.
    assert not np.allclose(a.layers[0].weight, model.layers[0].weight)
    assert float(jnp.min(a.layers[1].w_rec.ampa)) >= 0
    np.testing.assert_array_equal(a.layers[2].weight, model.layers[2].weight)
    zero = sx.train.ChipMismatch(0.0)(model, key=jax.random.key(5))
    for p, q in zip(jax.tree.leaves(zero), jax.tree.leaves(model)):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match="percent"):
        sx.train.ChipMismatch(-1.0)


def test_evaluate_mismatch_is_reproducible_from_its_key():
    x, y = _toy(n=6, t=30)
    model = _chip_toy()
    kw = dict(objective=sx.train.Classification(readout="sum"), percents=(0.0, 30.0), n_chips=2, metric="loss")
    r1 = sx.train.evaluate_mismatch(model, (x, y), key=jax.random.key(0), **kw)
    r2 = sx.train.evaluate_mismatch(model, (x, y), key=jax.random.key(0), **kw)
    r3 = sx.train.evaluate_mismatch(model, (x, y), key=jax.random.key(1), **kw)
    assert r1 == r2
    assert r1["std"][0] == 0.0 and r1["std"][1] > 0
    assert r3["values"][1] != r1["values"][1]
    assert len(r1["values"][1]) == 2


def test_sigma_delta_code_carries_the_integral_of_the_rate():
    rates = np.array([[300.0, 0.0], [300.0, 1500.0], [300.0, 0.0], [900.0, 200.0]])
    s = np.asarray(sx.encode.sigma_delta(rates, dt=1e-3))
    # Accumulated 0.3, 0.6, 0.9, 1.8 and 0, 1.5, 1.5, 1.7: an event at each integer crossed.
    np.testing.assert_array_equal(s, [[0, 0], [0, 1], [0, 0], [1, 0]])
    const = np.asarray(sx.encode.sigma_delta(np.full((50, 1), 40.0), dt=1e-3))
    np.testing.assert_array_equal(const, np.asarray(sx.encode.regular(40.0, duration=0.05, n_channels=1)))
    with pytest.raises(ValueError, match="rates"):
        sx.encode.sigma_delta(np.ones(3))


def test_weight_decay_adds_the_sum_of_squared_weights():
    x, y = _toy(n=1)
    model = _lif_net(jax.random.key(0))
    plain = sx.train.Classification(readout="max")
    decayed = sx.train.Classification(readout="max", weight_decay=0.01)
    l0 = plain(model, x[0], y[0])[0]
    l1 = decayed(model, x[0], y[0])[0]
    l2 = sum(float(jnp.sum(layer.weight**2)) for layer in (model.layers[0], model.layers[2]))
    np.testing.assert_allclose(float(l1 - l0), 0.01 * l2, rtol=1e-4)


def test_vowel_encoding_is_on_off_sigma_delta_held_per_frame():
    from spikax.train.tasks import encode_vowels

    # One utterance of 2 frames: coefficient 0 at +1.5 std then -3 std, the rest at the mean.
    u = np.zeros((12, 2))
    u[0] = [1.5, -3.0]
    x = encode_vowels([u], np.zeros(12), np.ones(12), frame_ms=10, max_rate=500.0, n_frames=3)
    assert x.shape == (1, 30, 24)
    # ON channel 0: 1.5/3 of 500 Hz = 250 Hz over the first 10 ms, 2-3 events; OFF channel 12
    # at 500 Hz in the second frame; silence in the padding frame and elsewhere.
    assert x[0, :10, 0].sum() in (2, 3) and x[0, 10:, 0].sum() == 0
    assert x[0, :10, 12].sum() == 0 and x[0, 10:20, 12].sum() in (4, 5, 6)
    assert x[0, 20:].sum() == 0 and x[0, :, 1:12].sum() == 0 and x[0, :, 13:].sum() == 0


def test_vowels_task_loads_from_aeon():
    pytest.importorskip("aeon")
    from spikax.train import tasks

    task = tasks.load_task("vowels")
    (x, y), (xt, _) = task.train, task.test
    assert x.shape == (270, 290, 24) and xt.shape == (370, 290, 24)
    assert sorted(set(y.tolist())) == list(range(9)) and task.n_classes == 9
    assert x.min() >= 0 and np.all(x == np.round(x))


def test_a_perturbation_per_sample_trains():
    data = _toy(n=8)
    model = _lif_net(jax.random.key(1))
    per_sample = _fit(model, data, 2, perturb=_jitter_weights, perturb_each="sample")
    assert np.all(np.isfinite([h["train_loss"] for h in per_sample.history]))
    assert not np.array_equal(model.layers[0].weight, per_sample.model.layers[0].weight)
    with pytest.raises(ValueError, match="perturb_each"):
        _fit(model, data, 1, perturb=_jitter_weights, perturb_each="step")


def test_retaining_freed_memory_can_be_turned_off(monkeypatch):
    from spikax.train import _memory

    monkeypatch.setattr(_memory, "_done", False)
    monkeypatch.setenv("SPIKAX_RETAIN_MEMORY", "0")
    assert _memory.retain_freed_memory() is False and _memory._done is False
    monkeypatch.setenv("SPIKAX_RETAIN_MEMORY", "1")
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert _memory.retain_freed_memory() is True
