"""What tests/test_distributed.py runs in fresh processes (JAX's device count is fixed at start).

    python distributed_worker.py devices N OUT.npz           # N host devices
    python distributed_worker.py process ID PORT OUT.npz     # one of two jax.distributed processes

The test process imports :func:`work` and runs it on its one device as the reference.

Every mode computes the same three things on tiny shapes and saves them: a LIF network mapped
over a batch (``distributed.vmap``), an ensemble of drawn DYNAP-SE2 chips
(``distributed.ensemble``; each chip's leak currents drive a LIF network's time constants, so
that four processes do not each compile a DynapSim), and a short data-parallel training run
(``train.fit``).
"""

from __future__ import annotations

import sys

import numpy as np

import spikax as sx

mode = sys.argv[1] if __name__ == "__main__" else "import"
if mode == "devices":
    sx.distributed.cpu_devices(int(sys.argv[2]))
elif mode == "process":
    sx.distributed.initialize(f"127.0.0.1:{sys.argv[3]}", num_processes=2, process_id=int(sys.argv[2]))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from spikax.devices import dynapse as dx  # noqa: E402


def lif_net(key):
    k1, k2 = jax.random.split(key)
    return sx.Sequential(
        sx.Linear.create(4, 8, key=k1),
        sx.LIF.create(8, tau_syn=5e-3, spike_fn=sx.surrogate.FastSigmoid(5.0)),
        sx.Linear.create(8, 2, key=k2),
        sx.LI.create(tau=10e-3),
    )


def toy(n=16, t=20):
    rng = np.random.default_rng(0)
    y = np.arange(n, dtype=np.int32) % 2
    rates = np.where((np.arange(4)[None] < 2) == (y[:, None] == 0), 0.5, 0.05)
    return (rng.random((n, t, 4)) < rates[:, None, :]).astype(np.float32), y


def chip_summary(key, params, net, xs):
    """One drawn chip: its DYNAP-SE2 leak currents (20 % mismatch), and the spike counts of the
    LIF network with membrane time constants scaled as those currents (cheap to compile)."""
    drawn = dx.apply_mismatch(key, params, 20.0)
    cell = eqx.tree_at(lambda c: c.params.tau_mem, net.layers[1], 20e-3 * params.Itau_mem / drawn.Itau_mem)
    return {"Itau_mem": drawn.Itau_mem, "counts": jnp.sum(cell(net.layers[0](xs)[0])[0], axis=0)}


def key_objective(model, x, y, *, key):
    """An objective whose value is drawn from its sample's key (which keys a batch uses)."""
    u = jax.random.uniform(key)
    return u, {"u": u}


def jitter(model, *, key):
    w = model.layers[0].weight
    return eqx.tree_at(lambda m: m.layers[0].weight, model, w * (1 + 0.1 * jax.random.normal(key, w.shape)))


def work(devices):
    out = {}
    net = lif_net(jax.random.key(0))
    xs, ys = toy()
    mapped = sx.distributed.vmap(lambda m, x: m(x)[0], in_axes=(None, 0), devices=devices)(net, xs)
    out["vmap"] = sx.distributed.gather(mapped)
    chips = sx.distributed.ensemble(
        chip_summary, 10, dx.DynapseParams.default(8), net, xs[0], key=jax.random.key(5), devices=devices,
        progress=False,  # chunks sized by the planner, agreed between processes
    )
    out.update({f"chips_{k}": v for k, v in chips.items()})
    res = sx.train.fit(
        net,
        (xs, ys),
        objective=sx.train.Classification(readout="max"),
        optimiser=optax.adam(5e-2),
        epochs=2,
        batch_size=8,
        key=jax.random.key(3),
        perturb=jitter,
        progress=False,
        devices=devices,
    )
    out["fit_weight"] = sx.distributed.gather(res.model.layers[0].weight)
    # Where the trained model lives: the default device (one process), else every device.
    out["fit_devices"] = np.array(len(res.model.layers[0].weight.sharding.device_set))
    # Batches of 3 (padded to the device count): the same samples and sample keys as on one device.
    ev = sx.train.evaluate(net, (xs, ys), objective=key_objective, batch_size=3, key=jax.random.key(4),
                           devices=devices)
    out["eval_keys"] = np.array(ev["u"])
    out["fit_loss"] = np.array([h["train_loss"] for h in res.history])
    return out


if mode == "devices":
    n = int(sys.argv[2])
    results = {}
    for d in (n,):  # 2 devices: the two-process run
        for k, v in work(d).items():
            results[f"{d}/{k}"] = v
    # A batch that does not divide over the devices is refused, naming the numbers.
    for call in (
        lambda: sx.distributed.vmap(lambda x: x * 2, devices=n)(jnp.ones((n + 1, 3))),
        lambda: sx.train.fit(
            lif_net(jax.random.key(0)),
            toy(),
            objective=sx.train.Classification(readout="max"),
            optimiser=optax.adam(1e-2),
            epochs=1,
            batch_size=n + 1,
            key=jax.random.key(0),
            progress=False,
            devices=n,
        ),
    ):
        try:
            call()
        except ValueError as err:
            results.setdefault("errors", []).append(str(err))
    results["errors"] = np.array(results["errors"])
    np.savez(sys.argv[3], **results)
elif mode == "process":
    assert jax.process_count() == 2 and len(jax.devices()) == 2 and len(jax.local_devices()) == 1
    results = work(None)
    if jax.process_index() == 0:
        np.savez(sys.argv[4], **results)
