"""Checkpoints and saved models: exact round trips, clear refusals, files never damaged."""

import hashlib
import json
import os
import pickle
import re
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import spikax
from spikax.devices.dynapse import DynapSim
from spikax.train import _checkpoint as ckpt


def _net(n_in=3, n=4, dt=1e-3):
    # Weights from NumPy: `Linear.create` compiles JAX's initialiser for every new shape (0.3 s).
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(n_in, n)).astype(np.float32), rng.normal(size=n).astype(np.float32)
    return spikax.Sequential(spikax.Linear(weight, bias), spikax.LIF.create(n, dt=dt))


def _assert_same(a, b):
    """Same structure (classes, static fields), every leaf bit for bit with its dtype and type."""
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        if ckpt._is_key(x):
            assert ckpt._is_key(y) and jax.random.key_impl(x) == jax.random.key_impl(y)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        if isinstance(x, (jax.Array, np.ndarray, np.generic)):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
        else:
            assert x == y


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _forge(path, skeleton, *, kind="model", **header):
    """A file laid out as the module docstring says, around any skeleton bytes."""
    fields = {
        "format": "spikax-checkpoint", "format_version": 1, "kind": kind, "spikax_version": "0",
        "metadata": {}, "fingerprint": "", "leaves": 0, "skeleton_bytes": len(skeleton),
        "payload_bytes": len(skeleton), "payload_sha256": hashlib.sha256(skeleton).hexdigest(),
        "byteorder": sys.byteorder, **header,
    }
    raw = json.dumps(fields).encode()
    path.write_bytes(ckpt.MAGIC + len(raw).to_bytes(8, "little") + raw + hashlib.sha256(raw).digest() + skeleton)
    return path


def test_lif_network_round_trip_and_same_output(tmp_path):
    model = _net()
    path = ckpt.save_model(tmp_path / "net.ckpt", model, metadata={"note": "tiny"})
    loaded = ckpt.load_model(path)
    _assert_same(model, loaded)
    assert type(loaded.layers[1].spike_fn) is type(model.layers[1].spike_fn)
    xs = np.random.default_rng(1).uniform(0.0, 4.0, size=(6, 3)).astype(np.float32)
    np.testing.assert_array_equal(model(xs)[0], loaded(xs)[0])
    assert ckpt.load_model(path, like=model) is not None
    assert ckpt.load_model(path, like=eqx.filter_eval_shape(_net)) is not None


def test_recurrent_dynapsim_round_trip(tmp_path):
    model = spikax.Recurrent(DynapSim.create(2), np.zeros((2, 2, 4)))
    path = ckpt.save_model(tmp_path / "chip.ckpt", model)
    _assert_same(model, ckpt.load_model(path, like=model))


def test_training_run_round_trip(tmp_path, key):
    model = _net()
    opt_state = optax.adam(1e-3).init(eqx.filter(model, eqx.is_inexact_array))
    run = {
        "model": model, "opt_state": opt_state, "key": key, "epoch": 12,
        "history": [{"loss": 0.5, "acc": 0.25}, {"loss": 0.25, "acc": 0.5}], "best": None,
        "mask": jnp.array([True, False]), "counts": np.arange(3, dtype=np.uint32), "scale": jnp.asarray(2.5),
        "rbg": jax.random.key(0, impl="rbg"), "f64": np.linspace(0.0, 1.0, 3), "i32": jnp.arange(2),
    }
    path = ckpt.save(tmp_path / "run.ckpt", run, kind="run", metadata={"epoch": 12, "tags": ["a"]})
    back, metadata = ckpt.load(path, kind="run")
    _assert_same(run, back)
    assert metadata == {"epoch": 12, "tags": ["a"]}
    assert back["key"].dtype == run["key"].dtype and back["scale"].weak_type
    assert jax.random.key_impl(back["rbg"]) == jax.random.key_impl(run["rbg"])
    assert isinstance(back["counts"], np.ndarray) and isinstance(back["epoch"], int)
    assert isinstance(back["opt_state"][0], optax.ScaleByAdamState)
    header = ckpt.read_metadata(path)
    assert header["kind"] == "run" and header["spikax_version"] == spikax.__version__
    assert header["metadata"] == metadata and header["format_version"] == ckpt.FORMAT_VERSION


def test_like_a_different_model(tmp_path):
    path = ckpt.save_model(tmp_path / "net.ckpt", _net())
    with pytest.raises(ValueError, match=r"different model.*layers\[0\]\.weight: shape \(3, 4\) vs \(3, 5\)"):
        ckpt.load_model(path, like=_net(n=5))
    wider = spikax.Sequential(_net().layers[0], spikax.LIF.create(5, dt=1e-3))
    with pytest.raises(ValueError, match=r"different model.*layers\[1\]\.params\.tau_mem: shape \(4,\) vs \(5,\)"):
        ckpt.load_model(path, like=wider)
    other = spikax.Sequential(_net().layers[0], spikax.ALIF.create(4, dt=1e-3))
    with pytest.raises(ValueError, match=r"different model.*layers\[1\]: LIF\(.*\) vs ALIF\("):
        ckpt.load_model(path, like=other)
    with pytest.raises(ValueError, match=r"different model.*dt=0\.001.* vs .*dt=0\.002"):
        ckpt.load_model(path, like=_net(dt=2e-3))


def test_like_with_a_wildcard(tmp_path):
    run = {"model": _net(), "epoch": 3, "history": [{"loss": 0.5}] * 3}
    path = ckpt.save(tmp_path / "run.ckpt", run, kind="run")
    fresh = {"model": _net(), "epoch": 0, "history": []}
    with pytest.raises(ValueError, match=r"different model.*\['history'\]: list of 3 vs list of 0"):
        ckpt.load(path, kind="run", like=fresh)
    back, _ = ckpt.load(path, kind="run", like={**fresh, "history": ...})
    assert back["history"] == run["history"]
    with pytest.raises(ValueError, match=r"layers\[1\]\.params\.tau_mem: shape \(4,\) vs \(5,\)"):
        wider = spikax.Sequential(_net().layers[0], spikax.LIF.create(5, dt=1e-3))
        ckpt.load(path, kind="run", like={**fresh, "model": wider, "history": ...})


def _text(p):
    p.write_text("hello, not a checkpoint\n")


def _empty(p):
    p.write_bytes(b"")


def _half(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(at):
    def flip(p):
        data = bytearray(p.read_bytes())
        data[int(len(data) * at)] ^= 0x01
        p.write_bytes(bytes(data))

    return flip


@pytest.mark.parametrize(
    "damage, message, in_header",
    [
        (_text, "is not a spikax checkpoint", True),
        (_empty, "is not a spikax checkpoint", True),
        (_half, "is truncated or corrupted", True),  # read_metadata checks the length
        (_flip(0.95), "is truncated or corrupted", False),  # in the arrays: only load hashes them
        (_flip(0.05), "is truncated or corrupted", True),
    ],
    ids=["text", "empty", "half", "flip-payload", "flip-header"],
)
def test_damaged_files_are_refused_and_left_alone(tmp_path, damage, message, in_header):
    path = ckpt.save_model(tmp_path / "net.ckpt", _net())
    damage(path)
    before = _digest(path)
    for load in (ckpt.load_model, ckpt.read_metadata) if in_header else (ckpt.load_model,):
        with pytest.raises(ValueError, match=message) as info:
            load(path)
        assert str(path) in str(info.value)
    assert _digest(path) == before and os.listdir(tmp_path) == ["net.ckpt"]


def test_wrong_kind_and_newer_format(tmp_path):
    path = ckpt.save(tmp_path / "run.ckpt", {"epoch": 1}, kind="run")
    before = _digest(path)
    with pytest.raises(ValueError, match="holds a 'run' but a 'model' was expected"):
        ckpt.load_model(path)
    assert _digest(path) == before
    newer = _forge(tmp_path / "new.ckpt", pickle.dumps(None), format_version=ckpt.FORMAT_VERSION + 1)
    with pytest.raises(ValueError, match="written by a newer format version"):
        ckpt.load_model(newer)


CALLS = []


class Recorder:
    """Not trusted (a test module): loading must not construct it."""

    def __init__(self, *args):
        CALLS.append(args)


class Mine(eqx.Module):
    """A user's own module: outside the trusted packages."""

    w: jax.Array


class _Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize(
    "make",
    [
        lambda marker: pickle.dumps(_Reduce(os.system, f"touch {marker}")),
        lambda marker: pickle.dumps(_Reduce(subprocess.Popen, ["touch", str(marker)])),
        lambda marker: pickle.dumps(_Reduce(np.save, str(marker), np.zeros(1))),
        lambda marker: pickle.dumps(_Reduce(Recorder, str(marker))),
        # the trusted package's own `os`, reached through a dotted name
        lambda marker: f"cspikax.train._checkpoint\nos.system\n(Vtouch {marker}\ntR.".encode(),
        lambda marker: f"cbuiltins\neval\n(V__import__('os').system('touch {marker}')\ntR.".encode(),
    ],
    ids=["os.system", "Popen", "numpy.save", "test-class", "dotted-os", "eval"],
)
def test_untrusted_pickle_is_refused_before_any_call(tmp_path, make):
    marker = tmp_path / "pwned"
    path = _forge(tmp_path / "evil.ckpt", make(marker))
    with pytest.raises(ValueError, match="not trusted"):
        ckpt.load_model(path)
    assert not marker.exists() and not CALLS


def test_save_creates_directories_and_refuses_what_it_cannot_rebuild(tmp_path):
    path = ckpt.save_model(tmp_path / "a" / "b" / "net.ckpt", _net())
    assert ckpt.load_model(path) is not None
    with pytest.raises(TypeError, match="equinox Module"):
        ckpt.save_model(tmp_path / "x.ckpt", {"not": "a module"})

    with pytest.raises(TypeError, match=re.escape(f"holds {Mine.__module__}.Mine") + ".*not trusted"):
        ckpt.save_model(tmp_path / "x.ckpt", Mine(jnp.ones(2)))

    class Local(eqx.Module):
        w: jax.Array

    with pytest.raises(TypeError, match=r"at \['nets'\]\[1\] \(class .*Local\) cannot be stored"):
        ckpt.save(tmp_path / "x.ckpt", {"nets": [_net(), Local(jnp.ones(2))]}, kind="run")
    with pytest.raises(TypeError, match=r"at \['f'\] .*cannot be stored"):
        ckpt.save(tmp_path / "x.ckpt", {"f": lambda x: x}, kind="run")
    assert not (tmp_path / "x.ckpt").exists()


def test_failed_save_leaves_the_existing_file(tmp_path, monkeypatch):
    path = ckpt.save_model(tmp_path / "net.ckpt", _net(), metadata={"v": 1})
    before = _digest(path)
    with pytest.raises(TypeError, match=r"`metadata`.*\['loss'\] is a numpy.float32"):
        ckpt.save_model(path, _net(n=5), metadata={"loss": np.float32(0.5)})
    with pytest.raises(TypeError, match="metadata"):
        ckpt.save_model(path, _net(n=5), metadata={"s": {1, 2}})

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "replace", fail)  # the write itself fails: the target is untouched
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_model(path, _net(n=5))
    assert _digest(path) == before and os.listdir(tmp_path) == ["net.ckpt"]
    assert ckpt.read_metadata(path)["metadata"] == {"v": 1}
