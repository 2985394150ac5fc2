"""The architecture's rules, checked: one abstract base with the abstract/final rule, parameters
as the only contract, adjoints as objects, a simulation that never imports matplotlib, and the
strict test set-up itself (rank promotion raises, annotated signatures are checked)."""

import abc
import inspect
import subprocess
import sys
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx
from conftest import REPO
from helpers import assert_trees_close
from spikax.devices import dynapse as dx


def spikax_classes():
    import spikax.devices.dynapse  # noqa: F401
    import spikax.distributed  # noqa: F401
    import spikax.train  # noqa: F401

    seen = {}
    for name, module in list(sys.modules.items()):
        if name == "spikax" or name.startswith("spikax."):
            for obj in vars(module).values():
                if inspect.isclass(obj) and obj.__module__.startswith("spikax") and issubclass(obj, eqx.Module):
                    seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(seen.values())


def test_abstract_final_rule():
    """Equinox's abstract/final rule: a class with spikax subclasses is abstract (named
    Abstract*); an abstract class declares no fields (only AbstractVar/AbstractClassVar) and no
    ``__init__``, so every field and the ``__init__`` live in one final class; and no subclass
    overrides a concrete method or attribute of a spikax base, it only implements abstract ones."""
    classes = spikax_classes()
    assert len(classes) > 40
    bases = {b for c in classes for b in c.__mro__[1:] if b in classes}
    for base in bases:
        assert base.__name__.startswith("Abstract"), f"{base.__name__} has subclasses but is not abstract"
    for cls in classes:
        if not cls.__name__.startswith("Abstract"):
            continue
        for name, hint in vars(cls).get("__annotations__", {}).items():
            assert "AbstractVar" in str(hint) or "AbstractClassVar" in str(hint), (
                f"abstract {cls.__name__} declares the field {name!r}: fields belong in final classes"
            )
        init = vars(cls).get("__init__")
        assert init is None or inspect.unwrap(init).__code__.co_filename == "<string>", (
            f"abstract {cls.__name__} defines __init__"
        )
    for cls in classes:
        for base in cls.__mro__[1:]:
            if base not in classes:
                continue
            for name, value in vars(base).items():
                if name.startswith("__") or name == "_abc_impl" or name in vars(base).get("__annotations__", {}):
                    continue
                if name in vars(cls) and not getattr(value, "__isabstractmethod__", False):
                    raise AssertionError(f"{cls.__name__} overrides the concrete {base.__name__}.{name}")


def test_no_hasattr_and_no_object_new_in_the_library():
    for path in (REPO / "src" / "spikax").rglob("*.py"):
        text = path.read_text()
        assert "hasattr(" not in text, f"{path.name} decides behaviour with hasattr"
        assert "object.__new__" not in text, f"{path.name} bypasses __init__"


def test_every_neuron_derives_from_the_one_base_and_is_built_from_its_params():
    models = [
        sx.LIF.create(3), sx.LIFNode.create(), sx.PLIF(), sx.IF.create(), sx.LI.create(), sx.EIF.create(),
        sx.QIF.create(), sx.ALIF.create(3), sx.AdEx.create(3), sx.LIFAdEx.create(3), sx.Izhikevich.create(3),
        dx.DynapSim.create(3),
    ]
    for model in models:
        assert isinstance(model, sx.AbstractNeuron)
        # Rebuilding from the parameters (and the static configuration) gives the same model.
        rebuilt = type(model)(model.params, dt=model.dt, adjoint=model.adjoint)
        assert jax.tree.structure(rebuilt) == jax.tree.structure(model)
        for a, b in zip(jax.tree.leaves(rebuilt), jax.tree.leaves(model)):
            np.testing.assert_array_equal(a, b)
    assert {abc.ABC, sx.AbstractNeuron} & set(sx.AbstractSpikingNeuron.__mro__) == {sx.AbstractNeuron}


def test_dynapsim_parameters_swapped_to_a_short_refractory_period_act_like_constructed_ones(key):
    """Nothing is derived from parameter values at construction: a DynapSim whose parameters
    are replaced by ``eqx.tree_at`` with a refractory period below ``dt`` (so the integration
    must resume inside steps) runs exactly like one constructed with those parameters."""
    iref = float(dx.ipulse_from_width(0.4e-3, 1.5e-12, 0.7))  # t_ref = 0.4 ms < dt = 1 ms
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        constructed = dx.DynapSim.create(3, Idc=[1e-6, 1e-7, 1e-10], Iref=iref)
    default = dx.DynapSim.create(3, Idc=[1e-6, 1e-7, 1e-10])
    swapped = eqx.tree_at(lambda m: m.params, default, constructed.params)
    # Poisson input onto AMPA (100 Hz) on top of the constant currents.
    xs = jnp.zeros((300, 3, 4)).at[:, :, 0].set((jax.random.uniform(key, (300, 3)) < 0.1).astype(jnp.float32))
    runs = {}
    for name, model in (("constructed", constructed), ("swapped", swapped), ("default", default)):
        runs[name] = eqx.filter_jit(lambda m, x: m(x, record=True))(model, xs)
    np.testing.assert_array_equal(runs["swapped"][0], runs["constructed"][0])
    assert_trees_close(runs["swapped"][1:], runs["constructed"][1:], rtol=0, atol=0)
    # The short refractory period matters: the fast neuron fires more often than with 1 ms.
    assert float(runs["constructed"][0][:, 0].sum()) > float(runs["default"][0][:, 0].sum()) + 50
    # Eagerly (parameters known) and under jit (a lax.cond on them) the same choice is made.
    eager = swapped(xs[:40])
    np.testing.assert_array_equal(eager[0], runs["constructed"][0][:40])


def test_vmap_over_chips_with_and_without_short_refractory_periods(key):
    """Under vmap over parameters the resume decision is per chip (the cond becomes a select)."""
    p = dx.DynapseParams.default(2, Idc=[1e-8, 2e-9])
    short = p.replace(Iref=float(dx.ipulse_from_width(0.5e-3, 1.5e-12, 0.7)))
    chips = jax.tree.map(lambda a, b: jnp.stack([a, b]), p, short)
    xs = jnp.zeros((200, 2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        batched = jax.vmap(lambda q: dx.DynapSim(q)(xs)[0])(chips)
        one_by_one = [dx.DynapSim(q)(xs)[0] for q in (p, short)]
    for b in range(2):
        np.testing.assert_array_equal(batched[b], one_by_one[b])
    assert float(one_by_one[1].sum()) > float(one_by_one[0].sum())


def test_adjoints_are_objects_and_give_the_same_gradients(key):
    xs = jax.random.normal(key, (40, 3))

    def step(s, x):
        s = 0.8 * s + jnp.tanh(x)
        return s, jnp.sin(s)

    def loss(w, adjoint):
        ys, final, _ = sx.simulate(lambda s, x: step(s, x * w), jnp.zeros(3), xs, adjoint=adjoint)
        return jnp.sum(ys**2) + jnp.sum(final)

    w = jnp.array([0.5, -1.0, 2.0])
    grads = [jax.grad(loss)(w, a) for a in (sx.DirectAdjoint(), sx.RecomputeAdjoint(), sx.ReplayAdjoint())]
    for g in grads[1:]:
        np.testing.assert_allclose(g, grads[0], rtol=1e-6)
    with pytest.raises(TypeError, match="adjoint"):
        sx.simulate(step, jnp.zeros(3), xs, adjoint="replay")


def test_models_take_an_adjoint():
    lif = sx.LIF.create(3, v_threshold=0.2, spike_fn=sx.surrogate.FastSigmoid(5.0), adjoint=sx.RecomputeAdjoint())
    direct = eqx.tree_at(lambda m: m.adjoint, lif, sx.DirectAdjoint())
    xs = jax.random.uniform(jax.random.key(0), (30, 3))
    g1 = jax.grad(lambda x: jnp.sum(lif(x)[0] * jnp.arange(30.0)[:, None]))(xs)
    g2 = jax.grad(lambda x: jnp.sum(direct(x)[0] * jnp.arange(30.0)[:, None]))(xs)
    np.testing.assert_allclose(g1, g2, rtol=1e-6)


def test_simulation_never_imports_matplotlib_or_the_deployment_tools():
    code = (
        "import sys, jax.numpy as jnp\n"
        "import spikax as sx\n"
        "from spikax.devices import dynapse as dx\n"
        "sx.LIF.create(2)(jnp.ones((5, 2)))\n"
        "dx.DynapSim.create(2)(jnp.zeros((5, 2, 4)))\n"
        "bad = [m for m in sys.modules if m.startswith('matplotlib') or m.startswith('spikax.devices.dynapse.deploy')"
        " or m == 'optax']\n"
        "assert not bad, bad\n"
        "assert sx.plot.raster is not None and 'matplotlib' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_the_test_set_up_is_strict():
    """Rank promotion raises, and spikax's annotated signatures are checked at run time."""
    assert jax.config.jax_numpy_rank_promotion == "raise"
    with pytest.raises(ValueError, match="rank_promotion"):
        jnp.ones((3, 2)) + jnp.ones(2)
    c = dx.dynapse_derive(dx.DynapseParams.default(3), 1e-3)
    imem = jnp.full(3, 1e-11)
    syn = dx.Synapses(*(jnp.full(3, 5e-13),) * 4)
    dx.membrane_rhs(c, imem, jnp.log(imem / 5e-13), syn, jnp.full(3, 5e-13))
    with pytest.raises(TypeError, match="membrane_rhs"):
        dx.membrane_rhs(c, imem, jnp.log(imem / 5e-13)[:2], syn, jnp.full(3, 5e-13))  # u of the wrong size


def test_one_vocabulary():
    """NIR's names for NIR's concepts, and one way to say the subtractive reset."""
    for params_type in (sx.neurons.LIFParams, sx.neurons.ALIFParams, sx.neurons.LIFNodeParams, sx.neurons.IFParams,
                        sx.neurons.EIFParams, sx.neurons.QIFParams, sx.neurons.AdExParams, sx.neurons.LIFAdExParams,
                        sx.neurons.IzhikevichParams):
        fields = set(params_type.__dataclass_fields__)
        assert "v_threshold" in fields and "v_reset" in fields, params_type.__name__
        assert not fields & {"threshold", "v_th", "V_peak", "E_L", "V_reset", "v_rest", "c", "tau_mem_inv"}
    assert "v_leak" in sx.neurons.LIParams.__dataclass_fields__
    for make in (lambda r: sx.LIF.create(1, v_reset=r), lambda r: sx.ALIF.create(1, v_reset=r),
                 lambda r: sx.LIFNode.create(v_reset=r), lambda r: sx.IF.create(v_reset=r)):
        assert make(None).params.v_reset is None and make(0.0).params.v_reset is not None
