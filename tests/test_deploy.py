"""DYNAP-SE2 deployment: bias codes, shared biases, 4-bit weights, placement and routing, the
configuration file, and back into simulation."""

import json
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx
from spikax.devices import dynapse as dx
from spikax.devices.dynapse import deploy as dd

# --------------------------------------------------------------------------- bias generator


def _all_codes(name):
    coarse, fine = np.meshgrid(np.arange(6), np.arange(256), indexing="ij")
    return dd.bias_current(name, coarse.ravel(), fine.ravel()), coarse.ravel(), fine.ravel()


def test_the_packaged_table_is_the_published_one():
    # Spot values of SynSense's table (Rockpool 3.1, lookup/paramgen.py and scaling.py).
    assert dd.bias_current("SOIF_LEAK_N", 0, 0) == pytest.approx(4.936110919490739e-13 * 0.61, rel=1e-15)
    assert dd.bias_current("Iw_0", 5, 255) == pytest.approx(2.244864591390948e-06 * 0.22, rel=1e-15)
    assert len(dd.BIAS_NAMES) == 23 and len(set(dd.BIAS_NAMES.values())) == 23
    assert dd.BIAS_NAMES["Itau_mem"] == "SOIF_LEAK_N" and dd.BIAS_NAMES["Iw_0"] == "SYAM_W0_P"
    assert set(dd.NEURON_BIASES) <= set(dx.PARAMETER_NAMES) and len(dd.NEURON_BIASES) == 19
    # About x8 per coarse step at the same fine value, as the datasheet says.
    for name in ("Itau_mem", "Igain_ampa"):
        steps = [dd.bias_current(name, c + 1, 128) / dd.bias_current(name, c, 128) for c in range(5)]
        assert all(7.0 < s < 9.0 for s in steps), steps


@pytest.mark.parametrize("name", list(dd.BIAS_NAMES))
def test_bias_code_is_the_closest_code(name):
    values, coarse, fine = _all_codes(name)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    # Across the range and beyond both ends, and exactly on codes.
    request = np.concatenate([
        np.exp(rng.uniform(np.log(values.min() / 10), np.log(values.max() * 10), 300)),
        values[rng.integers(0, len(values), 20)],
    ])
    code = dd.bias_code(name, request)
    brute = np.abs(values[None, :] - request[:, None]).min(axis=1)
    np.testing.assert_array_equal(np.abs(code.current - request), brute)
    np.testing.assert_array_equal(dd.bias_current(name, code.coarse, code.fine), code.current)
    np.testing.assert_allclose(code.rel_error, brute / request, rtol=1e-15)
    assert np.all(code.rel_error[-20:] == 0)


def test_bias_code_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown DYNAP-SE2 bias 'Itau_foo'"):
        dd.bias_code("Itau_foo", 1e-12)
    with pytest.raises(ValueError, match="`current` of SOIF_LEAK_N must be finite and > 0"):
        dd.bias_code("Itau_mem", [1e-12, -1.0])
    with pytest.raises(ValueError, match="`current`"):
        dd.bias_code("Itau_mem", np.nan)
    with pytest.raises(ValueError, match="`coarse` of SOIF_LEAK_N must be an integer in 0..5"):
        dd.bias_current("Itau_mem", 6, 0)
    with pytest.raises(ValueError, match="`fine` of SYAM_W0_P must be an integer in 0..255"):
        dd.bias_current("Iw_0", 0, 256)


# --------------------------------------------------------------------------- shared biases


def test_biases_trained_per_core_map_exactly_and_cores_group_them():
    n = 40
    group = np.arange(n) % 2  # interleaved: the grouping must find them
    params = dx.DynapseParams.default(n, Itau_mem=np.where(group, 5e-12, 20e-12),
                                      Igain_ampa=np.where(group, 8e-9, 3e-9))
    shared = dd.share_biases(params, n_cores=2)
    assert np.all(shared.rel_error == 0)
    assert len(set(zip(shared.cores, group))) == 2  # every core holds one group
    np.testing.assert_array_equal(shared.values["Itau_mem"][shared.cores], np.asarray(params.Itau_mem, np.float64))


def test_shared_biases_are_geometric_means_and_report_each_neurons_error():
    n = 12
    itau = np.exp(np.random.default_rng(0).normal(np.log(5e-12), 0.2, n))
    params = dx.DynapseParams.default(n, Itau_mem=itau)
    shared = dd.share_biases(params, cores=np.arange(n) // 6)
    itau32 = np.asarray(params.Itau_mem, np.float64)
    for c in range(2):
        members = itau32[shared.cores == c]
        assert shared.values["Itau_mem"][c] == pytest.approx(np.exp(np.log(members).mean()), rel=1e-12)
    expected = np.abs(shared.values["Itau_mem"][shared.cores] / itau32 - 1)
    np.testing.assert_allclose(shared.rel_error, expected, rtol=1e-12)
    assert shared.per_parameter["Itau_mem"] == pytest.approx(expected.max())
    assert shared.per_parameter["Igain_mem"] == 0


def test_n_cores_is_how_many_cores_are_used_even_with_fewer_bias_sets():
    group = np.arange(10) % 2
    params = dx.DynapseParams.default(10, Itau_mem=np.where(group, 5e-12, 20e-12))
    shared = dd.share_biases(params, n_cores=4)
    assert sorted(np.unique(shared.cores)) == [0, 1, 2, 3] and np.all(shared.rel_error == 0)
    with pytest.raises(ValueError, match="give `cores` .* or `n_cores`"):
        dd.deploy(_net(2, 4), cores=[0, 0, 1, 1], n_cores=2)


def test_share_biases_rejects_impossible_groupings():
    params = dx.DynapseParams.default(300)
    with pytest.raises(ValueError, match="`n_cores` must be an integer from 2 .* to 16"):
        dd.share_biases(params, n_cores=1)
    with pytest.raises(ValueError, match="core 0 has 300 neurons; a DYNAP-SE2 core has 256 \\(44 too many\\)"):
        dd.share_biases(params, cores=np.zeros(300, int))


# --------------------------------------------------------------------------- 4-bit weights


def _matrices(kind, rng):
    a, b = rng.normal(size=(8, 32)), rng.normal(size=(32, 32))
    if kind == "heavy":
        a, b = rng.standard_t(3, size=a.shape), rng.standard_t(3, size=b.shape)
    if kind == "sparse":
        a, b = a * (rng.random(a.shape) < 0.1), b * (rng.random(b.shape) < 0.1)
    return a, b


@pytest.mark.parametrize("kind", ["gaussian", "heavy", "sparse"])
def test_quantiser_beats_the_best_uniform_grid_on_every_core(kind):
    a, b = _matrices(kind, np.random.default_rng(1))
    for n_cores in (1, 4):
        cores = np.arange(32) * n_cores // 32
        q = dd.quantize_weights([np.abs(a) * 1e-8, np.abs(b) * 1e-8], cores)
        assert q.base.shape == (n_cores, 4)
        assert np.all(q.rel_error <= q.uniform_error * (1 + 1e-9)), (q.rel_error, q.uniform_error)
        # 16 levels on a half-Gaussian cannot do better than ~5.4 % (Lloyd-Max); 4-bit grids ~6 %.
        if kind == "gaussian":
            assert np.all(q.rel_error < 0.066)
        # Every base is a code of the bias generator, and every weight is its mask's level.
        np.testing.assert_array_equal(dd.bias_code("Iw_0", q.base).current, q.base)
        for m, qq, w in zip(q.masks, q.quantized, (a, b)):
            np.testing.assert_allclose(qq, dd.levels(q.base)[cores][np.arange(32)[None, :], m], rtol=1e-15)
            assert np.all(m[w == 0] == 0)


def test_quantize_weights_checks_its_inputs():
    good = dd.representable_currents("Iw_0")[0][[300, 400, 500, 600]]
    with pytest.raises(ValueError, match=r"`currents\[0\]` must be finite and >= 0"):
        dd.quantize_weights([[[np.nan, 1e-9]]], np.zeros(2, int))
    with pytest.raises(ValueError, match=r"`currents\[0\]` must be finite and >= 0"):
        dd.quantize_weights([[[-1e-9, 1e-9]]], np.zeros(2, int))
    with pytest.raises(ValueError, match=r"`base` must hold currents the bias generator can make .* base\[0, 0\]"):
        dd.quantize_weights([[[1e-9, 2e-9]]], np.zeros(2, int), base=[[1.234e-9, *good[1:]]])
    q = dd.quantize_weights([[[1e-9, 2e-9]]], np.zeros(2, int), base=[good])
    np.testing.assert_array_equal(q.base[0], good)


def test_levels_are_subset_sums_of_the_bases():
    base = np.array([1.0, 2.5, 7.0, 20.0])
    lv = dd.levels(base)
    assert lv[0] == 0 and lv[1] == 1.0 and lv[2] == 2.5 and lv[5] == 8.0 and lv[15] == 30.5


def test_weights_that_are_subset_sums_of_codes_are_reproduced_exactly():
    values, _, _ = dd.representable_currents("Iw_0")
    base = values[[400, 700, 900, 1200]]
    rng = np.random.default_rng(2)
    currents = dd.levels(base)[rng.integers(0, 16, size=(20, 30))]
    q = dd.quantize_weights([currents], np.zeros(30, int))
    assert q.rel_error[0] == 0
    np.testing.assert_array_equal(q.quantized[0], currents)


def test_quantized_weight_is_the_level_forward_and_straight_through_backward():
    lv = np.tile(dd.levels([1e-9, 2e-9, 4e-9, 8e-9]) / 1e-8, (3, 1))  # units of Iscale = 10 nA
    raw = jnp.asarray([[0.26, -0.74, 1.6], [0.0, 0.06, -0.31]])
    mask = jnp.asarray([[True, True, True], [True, True, False]])
    q = dd.QuantizedWeight(raw, lv, mask)
    # Only the float weight is an array that could train: levels are static, the mask boolean.
    assert [leaf.dtype for leaf in jax.tree.leaves(q)] == [raw.dtype, jnp.bool_]
    np.testing.assert_allclose(q.unwrap(), [[0.3, -0.7, 1.5], [0.0, 0.1, 0.0]], rtol=1e-6, atol=1e-7)
    cotangent = jnp.arange(6.0).reshape(2, 3)
    grad = jax.grad(lambda r: jnp.sum(eqx.tree_at(lambda m: m.raw, q, r).unwrap() * cotangent))(raw)
    np.testing.assert_array_equal(grad, jnp.where(mask, cotangent, 0.0))


# --------------------------------------------------------------------------- placement and routing


def _net(n_in, n, key=None, rec=True, w_in=None, w_rec=None):
    key = jax.random.key(0) if key is None else key
    k1, k2 = jax.random.split(key)
    w_in = jax.random.uniform(k1, (n_in, n), minval=0.2, maxval=1.0) if w_in is None else jnp.asarray(w_in)
    linear = dx.DynapseLinear(w_in, excitatory="ampa", inhibitory="shunt")
    cell = dx.DynapSim.create(n)
    if not rec:
        return sx.Sequential(linear, cell)
    if w_rec is None:
        w = jax.random.uniform(k2, (n, n), minval=-0.5, maxval=0.5) * (1 - jnp.eye(n))
    else:
        w = jnp.asarray(w_rec)
    return sx.Sequential(linear, sx.Recurrent(cell, dx.Synapses(ampa=jnp.maximum(w, 0), shunt=jnp.maximum(-w, 0))))


def test_256_neurons_use_one_core_and_257_two():
    net = _net(2, 256, rec=False)
    cfg = dd.deploy(net).config.data
    assert len(cfg["cores"]) == 1
    assert sorted(nr["neuron"] for nr in cfg["neurons"]) == list(range(256))
    assert {(nr["chip"], nr["core"]) for nr in cfg["neurons"]} == {(0, 0)}
    cfg = dd.deploy(_net(2, 257, rec=False)).config.data
    assert [(c["chip"], c["core"]) for c in cfg["cores"]] == [(0, 0), (0, 1)]
    assert [nr["neuron"] for nr in cfg["neurons"] if nr["core"] == 1] == [0]


def test_neurons_over_several_cores_get_local_indices_and_every_core_its_inputs():
    cfg = dd.deploy(_net(5, 10), n_cores=3).config.data
    slots = [(nr["chip"], nr["core"], nr["neuron"]) for nr in cfg["neurons"]]
    assert len(set(slots)) == 10
    per_core = {}
    for _, core, idx in slots:
        per_core.setdefault(core, []).append(idx)
    assert sorted(per_core) == [0, 1, 2]
    for idx in per_core.values():
        assert sorted(idx) == list(range(len(idx)))  # 0..k-1 on every core, not global ids
    # On core 3 of 4, neuron 7 of 8 is the core's second neuron.
    cfg4 = dd.deploy(_net(5, 8), n_cores=4).config.data
    nr7 = cfg4["neurons"][7]
    assert (nr7["chip"], nr7["core"], nr7["neuron"]) == (0, 3, 1)
    # Every input reaches every core that listens to it, under its tag.
    for nr in cfg["neurons"]:
        for entry in nr["cam"]:
            senders = [i for i in cfg["inputs"] if i["tag"] == entry["tag"]
                       and any(d["chip"] == nr["chip"] and d["cores"] >> nr["core"] & 1 for d in i["destinations"])]
            senders += [m for m in cfg["neurons"] if m["tag"] == entry["tag"] and any(
                e.get("chip") == nr["chip"] and e.get("cores", 0) >> nr["core"] & 1 for e in m["sram"])]
            assert len(senders) == 1
    assert {d["cores"] for i in cfg["inputs"] for d in i["destinations"]} == {0b111}


def test_a_neuron_projecting_to_three_chips_gets_one_destination_per_chip():
    n = 4
    w_rec = np.zeros((n, n))
    w_rec[0, 1:] = 0.5  # neuron 0 drives neurons 1, 2, 3
    net = _net(1, n, w_in=np.full((1, n), 0.5), w_rec=w_rec)
    dep = dd.deploy(net, cores=[0, 4, 9, 14], outputs=[3])  # chips 0, 1, 2, 3
    nr0 = dep.config.data["neurons"][0]
    assert sorted((e["chip"], e["cores"], tuple(e["hops"])) for e in nr0["sram"]) == [
        (1, 0b0001, (1, 0)), (2, 0b0010, (2, 0)), (3, 0b0100, (3, 0))]
    assert dep.report["chips_used"] == [0, 1, 2, 3]


def test_output_neurons_are_identified_in_the_configuration():
    dep = dd.deploy(_net(3, 6), n_cores=2, outputs=[5, 1])
    cfg = dep.config.data
    assert [(o["index"], o["id"]) for o in cfg["outputs"]] == [(0, 5), (1, 1)]
    for o in cfg["outputs"]:
        nr = cfg["neurons"][o["id"]]
        assert (o["chip"], o["core"], o["neuron"], o["tag"]) == (nr["chip"], nr["core"], nr["neuron"], nr["tag"])
        host = [e for e in nr["sram"] if e.get("host")]
        assert host == [{"tag": nr["tag"], "host": True, "hops": [-1, 0]}]
    assert not any(e.get("host") for nr in cfg["neurons"] if nr["id"] not in (5, 1) for e in nr["sram"])


def test_a_network_that_does_not_fit_names_the_limit_the_neuron_and_by_how_much():
    w_in = np.full((80, 20), 0.5) * (np.arange(80)[:, None] < 10)
    w_in[:, 17] = 0.5  # only neuron 17 is over the limit
    with pytest.raises(ValueError, match=r"neuron 17 has 80 incoming connections; a DYNAP-SE2 neuron has 64 CAM "
                                         r"entries \(16 too many"):
        dd.deploy(_net(80, 20, w_in=w_in, rec=False))
    with pytest.raises(ValueError, match="the network has 4097 neurons; DYNAP-SE2 has 4096"):
        dd.assign_cores(4097)
    n = 5
    w_rec = np.zeros((n, n))
    w_rec[0, 1:] = 0.5
    net = _net(1, n, w_in=np.full((1, n), 0.5), w_rec=w_rec)
    with pytest.raises(ValueError, match=r"neuron 0 sends to 5 destinations \(chip 0, chip 1, chip 2, chip 3, the "
                                         r"host\); a DYNAP-SE2 neuron has 4 SRAM entries \(1 too many\)"):
        dd.deploy(net, cores=[0, 4, 8, 12, 1], outputs=[0])


def test_tags_run_out_at_a_core_that_hears_more_than_2048_sources():
    n_in, n = 2049, 33
    w_in = np.zeros((n_in, n))
    w_in[np.arange(n_in), np.arange(n_in) % n] = 0.5  # <= 63 inputs per neuron, all on one core
    with pytest.raises(ValueError, match="input channel 2048 finds no free tag; core 0 of chip 0 already receives 20"):
        dd.deploy(_net(n_in, n, w_in=w_in, rec=False))


def test_prune_fan_in_keeps_each_neurons_strongest_connections_and_can_hold_them():
    net = sx.train.chip_trainable(sx.train.chip_network(30, 50, key=jax.random.key(3), recurrent_scale=2.0))
    pruned = dd.prune_fan_in(net, 64)
    phys = sx.train.unwrap(pruned)
    full = sx.train.unwrap(net)
    lin, _, rec, _ = dd.split_chip_network(phys)
    w = np.concatenate([np.abs(np.asarray(full.layers[0].weight)),
                        np.abs(np.asarray(full.layers[1].w_rec.ampa - full.layers[1].w_rec.shunt))])  # (80, 50)
    kept = np.concatenate([np.asarray(lin.weight) != 0, np.asarray(rec.ampa + rec.shunt) != 0])
    assert np.all(kept.sum(0) == 64)
    for j in range(50):
        assert np.min(w[kept[:, j], j]) >= np.max(w[~kept[:, j], j])
    held = dd.prune_fan_in(net, 64, hold=True)
    assert isinstance(held.layers[0].weight, sx.train.Masked)
    assert eqx.tree_equal(sx.train.unwrap(held), phys)
    # Pruned entries get no gradient (training keeps them at zero).
    grads = eqx.filter_grad(lambda m: jnp.sum(sx.train.unwrap(m).layers[0].weight ** 2))(held)
    g = np.asarray(grads.layers[0].weight.value)
    assert np.all(g[~kept[:30]] == 0) and np.all(g[kept[:30]] != 0)
    with pytest.raises(ValueError, match="`limit` must be an integer >= 1"):
        dd.prune_fan_in(net, 0)
    with pytest.raises(ValueError, match="make it trainable first, then prune"):
        sx.train.chip_trainable(dd.prune_fan_in(sx.train.chip_network(30, 50, key=jax.random.key(3)), 64, hold=True))


# --------------------------------------------------------------------------- configuration file


def test_configuration_round_trips_exactly_and_saves_atomically(tmp_path):
    dep = dd.deploy(_net(4, 9), n_cores=2)
    path = tmp_path / "config.json"
    dep.config.save(path)
    assert not list(tmp_path.glob("*.tmp"))
    back = dd.ChipConfig.load(path)
    assert back == dep.config and back.data == json.loads(path.read_text())
    assert dd.ChipConfig(json.loads(dep.config.to_json())) == dep.config
    core = dep.config.data["cores"][0]
    assert set(core["biases"]) == set(dd.BIAS_NAMES.values())
    assert dep.config.data["dt"] == 1e-3


def _edited(config, edit):
    data = json.loads(config.to_json())
    edit(data)
    return dd.validate_config(data)


def test_validator_names_what_a_hand_edit_broke():
    cfg = dd.deploy(_net(4, 9), n_cores=2).config

    def cam(d, **kw):
        d["neurons"][3]["cam"][0].update(kw)

    cases = {
        "neuron 3: cam[0] must be {tag 0..2047, dendrite AMPA|NMDA|GABA|SHUNT, mask 0..15}": lambda d: cam(d, mask=16),
        "neuron 3: cam[0] must be": lambda d: cam(d, dendrite="ampa"),
        "neuron 3: cam[0] listens to tag 1999, which no input or neuron sends to core": lambda d: cam(d, tag=1999),
        "cores[1]: bias SOIF_LEAK_N is missing": lambda d: d["cores"][1]["biases"].pop("SOIF_LEAK_N"),
        "cores[0]: bias SYAM_W2_P must be [coarse 0..5, fine 0..255], got [2, 300]":
            lambda d: d["cores"][0]["biases"].update(SYAM_W2_P=[2, 300]),
        "neuron 2: chip 0 core 0 neuron 0 is also neuron 0": lambda d: d["neurons"][2].update(neuron=0),
        "neuron 4: sram[0] hops [5, 0] do not lead from chip": lambda d: d["neurons"][4]["sram"][0].update(hops=[5, 0]),
        "neuron 0: 65 CAM entries; a DYNAP-SE2 neuron has 64 (1 too many)":
            lambda d: d["neurons"][0].update(cam=d["neurons"][0]["cam"][:1] * 65),
        "outputs[0]: neuron 0 is an output but has no SRAM entry to the host":
            lambda d: d["neurons"][0].update(sram=[e for e in d["neurons"][0]["sram"] if not e.get("host")]),
        "`dt` must be a number > 0": lambda d: d.update(dt=-1),
        "missing key(s): inputs": lambda d: d.pop("inputs"),
    }
    assert dd.validate_config(cfg.data) == []
    for message, edit in cases.items():
        problems = _edited(cfg, edit)
        assert any(message in p for p in problems), (message, problems)
    with pytest.raises(ValueError, match="is not a valid DYNAP-SE2 configuration"):
        dd.ChipConfig({"format": "spikax-dynapse2-config"})


def test_validator_refuses_what_the_simulator_would_misread():
    cfg = dd.deploy(_net(3, 4), n_cores=2).config
    ff = dd.deploy(_net(3, 4, rec=False), outputs=[0, 1]).config

    def out_tag(d, tag):
        d["neurons"][1]["tag"] = tag
        d["neurons"][1]["sram"][0]["tag"] = tag
        d["outputs"][1]["tag"] = tag

    cases = [
        (cfg, "simulation.recurrent is false, but 4 neuron(s) send to other neurons",
         lambda d: d["simulation"].update(recurrent=False)),
        (cfg, "simulation.recurrent must be true or false, got 'no'", lambda d: d["simulation"].update(recurrent="no")),
        (cfg, "cores[0]: unknown simulation constant 'foo'", lambda d: d["cores"][0]["simulation"].update(foo=1.0)),
        (cfg, "cores[1]: the simulator cannot run these values: `kappa_n` is a subthreshold slope factor",
         lambda d: d["cores"][1]["simulation"].update(kappa_n=2.0)),
        (cfg, "`neurons` is empty", lambda d: d.update(neurons=[], outputs=[])),
        (cfg, "`board` must be", lambda d: d["board"].update(host_position=["-1", "0"])),
        (cfg, "`board` must be", lambda d: d["board"]["chip_positions"].__setitem__(0, [0.5, 0])),
        (cfg, "`version` must be 1", lambda d: d.update(version=True)),
        (cfg, "`version` must be 1", lambda d: d.update(version=1.0)),
        (cfg, "sram[0] must carry the neuron's tag", lambda d: d["neurons"][0]["sram"][0].update(
            tag=float(d["neurons"][0]["tag"]))),
        (cfg, "outputs[2]: chip/core/neuron/tag do not match", lambda d: d["outputs"][2].update(
            neuron=float(d["outputs"][2]["neuron"]))),
        (ff, "the host receives tag 0 from 2 sources (neuron 0, neuron 1)",
         lambda d: out_tag(d, d["neurons"][0]["tag"])),
    ]
    for config, message, edit in cases:
        problems = _edited(config, edit)
        assert any(message in p for p in problems), (message, problems)
    # The configuration keeps its own copy: editing the dict it came from changes nothing.
    data = json.loads(cfg.to_json())
    mine = dd.ChipConfig(data)
    data["neurons"][0]["cam"][0]["mask"] = 99
    mine.data["neurons"][0]["cam"][0]["mask"] = 99
    assert mine == cfg and dd.validate_config(mine.data) == []


def test_malformed_files_give_a_clear_error_and_no_result(tmp_path):
    good = dd.deploy(_net(2, 3)).config.to_json()
    files = {"truncated.json": good[: len(good) // 2], "binary.json": "\x00\x01", "list.json": "[1, 2]"}
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValueError, match=str(path)):
            dd.ChipConfig.load(path)
    with pytest.raises(ValueError, match="no such configuration file"):
        dd.ChipConfig.load(tmp_path / "missing.json")


# --------------------------------------------------------------------------- back into simulation


@pytest.mark.parametrize("seed", range(3))
def test_a_representable_network_comes_back_identical(seed):
    first = dd.deploy(_net(4, 6, key=jax.random.key(seed)), n_cores=1 + seed % 3)
    chip = first.network()
    again = dd.deploy(chip, n_cores=1 + seed % 3)
    assert again.report["weight_error"] < 1e-6 and again.report["connections_dropped"] == 0
    assert eqx.tree_equal(again.network(), chip)
    assert again.config == first.config


def test_weights_whose_smallest_level_is_a_sum_of_bases_come_back_identical():
    # Equal weights: the quantiser may reach 0.5 only as a sum of two or three bases.
    first = dd.deploy(sx.Sequential(dx.DynapseLinear(jnp.full((2, 4), 0.5)), dx.DynapSim.create(4)))
    chip = first.network()
    assert eqx.tree_equal(dd.deploy(chip).network(), chip)
    # And from a file.
    assert eqx.tree_equal(dd.to_network(dd.ChipConfig(json.loads(first.config.to_json()))), chip)


def test_the_network_holds_the_configurations_currents():
    dep = dd.deploy(_net(3, 5), n_cores=1)
    chip = dep.network()
    cfg = dep.config.data
    core = cfg["cores"][0]
    base = [dd.bias_current(n, *core["biases"][dd.BIAS_NAMES[n]]) for n in dd.WEIGHT_BIASES]
    tags = {i["tag"]: i["channel"] for i in cfg["inputs"]}
    nr = cfg["neurons"][2]
    w = np.asarray(chip.layers[0].weight)
    for e in nr["cam"]:
        if e["tag"] in tags and e["dendrite"] == "AMPA":
            assert w[tags[e["tag"]], 2] == pytest.approx(dd.levels(base)[e["mask"]] / 1e-8, rel=1e-6)
    itau = dd.bias_current("Itau_mem", *core["biases"]["SOIF_LEAK_N"])
    np.testing.assert_allclose(chip.layers[1].cell.params.Itau_mem, itau, rtol=1e-7)
    # "Off" biases at the dark current stay at it (the simulator's floor), not below.
    np.testing.assert_array_equal(chip.layers[1].cell.params.Idc, chip.layers[1].cell.params.Io)


def test_mismatch_is_drawn_from_the_key():
    dep = dd.deploy(_net(3, 5))
    a = dep.network(mismatch=10.0, key=jax.random.key(1))
    b = dep.network(mismatch=10.0, key=jax.random.key(1))
    c = dep.network(mismatch=10.0, key=jax.random.key(2))
    assert eqx.tree_equal(a, b)
    assert not np.allclose(a.layers[1].cell.params.Itau_mem, c.layers[1].cell.params.Itau_mem, rtol=1e-3, atol=0)
    assert eqx.tree_equal(dep.network(mismatch=0.0, key=jax.random.key(1)), dep.network())
    with pytest.raises(ValueError, match="`key` is required"):
        dep.network(mismatch=10.0)


def test_quantisation_aware_training_runs_the_configured_network():
    net = sx.train.chip_trainable(sx.train.chip_network(6, 8, key=jax.random.key(6), recurrent_scale=0.5))
    dep = dd.deploy(net, n_cores=2)
    aware = dd.quantization_aware(net, dep)
    # The forward model is the configured network itself, every weight and bias to the bit.
    assert eqx.tree_equal(sx.train.unwrap(aware), dep.network())
    # Straight through: the gradient reaches the float weights of every configured connection.
    grads = eqx.filter_grad(lambda m: jnp.sum(sx.train.unwrap(m).layers[1].w_rec.ampa))(aware)
    np.testing.assert_array_equal(np.asarray(grads.layers[1].w_rec.weight.raw) > 0,
                                  np.asarray(dep.network().layers[1].w_rec.ampa) > 0)
    again = dd.deploy(sx.train.unwrap(aware), base_weights=dep.base_weights, cores=dep.cores)
    assert again.config == dep.config


def test_deploy_rejects_what_is_not_a_chip_network():
    lif = sx.Sequential(sx.Linear(jnp.ones((3, 4))), sx.LIF.create(4))
    with pytest.raises(ValueError, match="must be Sequential\\(DynapseLinear, DynapSim or Recurrent\\(DynapSim\\)"):
        dd.deploy(lif)
    with pytest.raises(ValueError, match="`outputs` must be distinct neuron indices in 0..4"):
        dd.deploy(_net(2, 5), outputs=[7])


# --------------------------------------------------------------------------- the CLI


def test_cli_deploy_writes_the_configuration_and_checks_files(tmp_path, capsys):
    from spikax import cli

    sx.train.save_model(tmp_path / "model.spikax", sx.train.chip_network(8, 10, key=jax.random.key(0)))
    out = tmp_path / "config.json"
    assert cli.main(["deploy", str(tmp_path / "model.spikax"), "--out", str(out), "--n-cores", "2",
                     "--report", str(tmp_path / "report.json")]) == 0
    printed = capsys.readouterr().out
    assert "10 neurons, 8 input channels, 10 outputs on 1 chip(s) and 2 core(s)" in printed
    assert "largest fan-in" in printed and "relative error" in printed
    assert json.loads((tmp_path / "report.json").read_text())["neurons"] == 10
    assert cli.main(["deploy", "--check", str(out)]) == 0
    assert "a valid DYNAP-SE2 configuration: 10 neurons on 2 core(s)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    data["neurons"][1]["cam"][0]["mask"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(data))
    assert cli.main(["deploy", "--check", str(tmp_path / "bad.json")]) == 1
    assert "neuron 1: cam[0] must be" in capsys.readouterr().err
    assert cli.main(["deploy"]) == 2
    assert "give a CHECKPOINT" in capsys.readouterr().err
    # Fan-in over 64: one line naming the neuron, no traceback, no file.
    sx.train.save_model(tmp_path / "wide.spikax", sx.train.chip_network(70, 3, key=jax.random.key(0)))
    assert cli.main(["deploy", str(tmp_path / "wide.spikax"), "--out", str(tmp_path / "wide.json")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"neuron \d has 6\d incoming connections; a DYNAP-SE2 neuron has 64 CAM entries", err)
    assert "Traceback" not in err
    assert not (tmp_path / "wide.json").exists()
    assert cli.main(["deploy", str(tmp_path / "wide.spikax"), "--out", str(tmp_path / "wide.json"),
                     "--prune-fan-in"]) == 0
    capsys.readouterr()
    # Mistakes are named by their option, before anything is written.
    model = str(tmp_path / "model.spikax")
    for argv, message, code in [
        (["deploy", model, "--out", str(tmp_path / "a.json"), "--report", "/nonexistent/r.json"], "--report", 2),
        (["deploy", model, "--out", str(tmp_path / "a.json"), "--n-cores", "16"], "--n-cores 16 is more than", 2),
        (["deploy", model, "--out", str(tmp_path / "a.json"), "--task", "frozen-noise"],
         "--task frozen-noise has 60", 2),
        (["deploy", "--check", str(tmp_path)], "cannot be read as a configuration file", 1),
    ]:
        assert cli.main(argv) == code, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "a.json").exists()


def test_deploy_help_explains_it(capsys):
    from spikax import cli

    with pytest.raises(SystemExit):
        cli.main(["deploy", "--help"])
    text = capsys.readouterr().out
    for word in ("CHECKPOINT", "--out", "--check", "--task", "--n-cores", "--prune-fan-in", "bias", "4-bit"):
        assert word in text, word


def test_a_parameter_set_goes_to_a_per_core_code_table_and_back():
    n = 6
    params = dx.DynapseParams.default(n, Itau_mem=[5e-12, 5e-12, 5e-12, 2e-11, 2e-11, 2e-11])
    table = dd.encode_biases(params, cores=[0, 0, 0, 1, 1, 1])
    assert sorted(table.codes) == [0, 1] and len(table.codes[0]) == 19
    c0, f0 = table.codes[0]["SOIF_LEAK_N"]
    assert table.currents["Itau_mem"][0] == dd.bias_code("Itau_mem", 5e-12).current
    assert (c0, f0) == tuple(int(v) for v in dd.bias_code("Itau_mem", 5e-12)[:2])
    assert table.codes[0]["SOIF_DC_P"] == (0, 0)  # Idc at the dark current is off
    back = dd.decode_biases(table, params)
    np.testing.assert_allclose(back.Itau_mem, [table.currents["Itau_mem"][c] for c in (0, 0, 0, 1, 1, 1)], rtol=1e-7)
    np.testing.assert_array_equal(back.Idc, params.Io)
    np.testing.assert_allclose(table.rel_error["Itau_mem"], np.abs(np.asarray(back.Itau_mem) / params.Itau_mem - 1),
                               rtol=1e-5, atol=1e-7)
    # Codes of decoded currents are the same codes.
    assert dd.encode_biases(back, cores=[0, 0, 0, 1, 1, 1]).codes == table.codes



def test_validator_requires_host_entries_to_say_true_and_outputs_to_be_distinct():
    cfg = dd.deploy(_net(3, 4), n_cores=2, outputs=[0, 1]).config

    def host_one(d):
        entry = next(e for e in d["neurons"][2]["sram"] if not e.get("host"))
        entry["host"] = 1

    def twice(d):
        d["outputs"].append(dict(d["outputs"][0], index=2))

    assert any("`host` must be true" in p for p in _edited(cfg, host_one))
    assert any("outputs: neuron 0 is listed 2 times" in p for p in _edited(cfg, twice))


def test_a_drawn_chip_read_back_deploys_to_the_same_configuration():
    net = sx.train.ChipMismatch(20.0)(sx.train.chip_network(4, 6, key=jax.random.key(0), recurrent_scale=0.3),
                                      key=jax.random.key(100))
    first = dd.deploy(net, n_cores=2)
    again = dd.deploy(first.network(), n_cores=2)
    assert again.config == first.config and eqx.tree_equal(again.network(), first.network())
