"""NIR import and export: the NIR paper's three tasks, round trips, and live parity with snnTorch and Norse.

Reference data: ``../shared/ref/nir/`` (its README gives the sources and the numbers used here).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx

nir = pytest.importorskip("nir")
from spikax.interop import nir as snir  # noqa: E402

DT = 1e-4


def trace(ref_dir, name):
    path = ref_dir / "nir" / "paper_01_lif" / "traces" / f"lif_{name}.csv"
    return np.loadtxt(path, delimiter=",")


def lif_voltage(graph, xs):
    ys, _, rec = graph(xs, record=True)
    (name,) = [n for n, layer in graph.nodes.items() if isinstance(layer, sx.CubaLIF)]
    return np.asarray(ys)[:, 0], np.asarray(rec[name]["v"])[:, 0]


@pytest.mark.parametrize(
    "graph_file,preset,ref,scale",
    [
        ("lif_norse", "norse", "norse", 1),
        ("lif_rockpool", "rockpool", "rockpool", 1),
        ("lif_norse", "exact", "nengo", 10),
    ],
)
def test_task1_single_lif_reproduces_the_platform_traces(ref_dir, graph_file, preset, ref, scale):
    data = trace(ref_dir, ref)
    graph = snir.from_nir(ref_dir / "nir" / "paper_01_lif" / f"{graph_file}.nir", dt=DT, preset=preset)
    spikes, v = lif_voltage(graph, data[:, :1].astype(np.float32))
    np.testing.assert_array_equal(spikes, data[:, 2])
    # The CSVs keep ~8 digits: 1e-6 is far above their rounding and float32's.
    np.testing.assert_allclose(v, data[:, 1] / scale, atol=1e-6)


def test_task1_two_lif_neurons_follow_the_euler_recursion(ref_dir):
    graph = snir.from_nir(ref_dir / "nir" / "paper_01_lif" / "two_lif_neurons.nir", dt=DT)
    ys, _, rec = graph(np.zeros((1000, 1), np.float32), record=True)
    # lif1 (v_leak 1.2 > threshold 1) fires on its own: v <- v + dt/tau (1.2 - v) from 0, reset to 0.
    v, expected = 0.0, []
    for _ in range(1000):
        v = v + DT / 0.01 * (1.2 - v)
        expected.append(v > 1.0)
        v = 0.0 if v > 1.0 else v
    np.testing.assert_array_equal(np.asarray(rec["lif1"]["output"])[:, 0], np.array(expected, np.float32))
    assert sum(expected) == 5 and float(ys.sum()) == 0.0  # lif2 (threshold 20) never fires


@pytest.mark.parametrize(
    "reset,counts", [("to_v_reset", [1, 0, 1, 0, 146, 1, 0, 0, 0, 0]), ("subtract", [1, 0, 2, 0, 263, 14, 0, 0, 0, 0])]
)
def test_task2_sinabs_cnn_on_the_real_nmnist_sample(ref_dir, reset, counts):
    events = sx.encode.read_nmnist(ref_dir / "nir" / "tonic_nmnist_sample" / "sample_nmnist.bin")
    frames = sx.encode.events_to_frames(events, dt=1e-3)
    graph = snir.from_nir(ref_dir / "nir" / "paper_02_cnn" / "cnn_sinabs.nir", dt=1e-3, preset="sinabs", reset=reset)
    out = np.asarray(graph(frames)[0].sum(0))
    np.testing.assert_array_equal(out, counts)
    assert int(np.argmax(out)) == 4


def test_nmnist_reader_and_frames(ref_dir, tmp_path):
    events = sx.encode.read_nmnist(ref_dir / "nir" / "tonic_nmnist_sample" / "sample_nmnist.bin")
    assert len(events.t) == 4325 and events.x.max() < 34 and events.y.max() < 34
    assert np.all(np.diff(events.t) >= 0) and events.t[-1] - events.t[0] == pytest.approx(0.310521)
    frames = sx.encode.events_to_frames(events, dt=1e-3)
    assert frames.shape == (311, 2, 34, 34) and frames.sum() == 4325
    assert frames[0].sum() == np.sum(events.t < events.t[0] + 1e-3)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(ValueError, match="not a multiple of 5"):
        sx.encode.read_nmnist(bad)


def braille_files(ref_dir):
    base = ref_dir / "nir" / "paper_03_rnn"
    return sorted(base.glob("braille_*.nir")), sorted((base / "subgraph_spyx").glob("*.nir"))


def test_task3_braille_graphs_flat_and_nested_run_alike(ref_dir, key):
    flat, nested = braille_files(ref_dir)
    assert len(flat) == len(nested) == 2
    x = (jax.random.uniform(key, (256, 12)) < 0.1).astype(jnp.float32)
    for f, n in zip(flat, nested):
        reset = "subtract" if "subtract" in f.name else "to_v_reset"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the files' r = tau/dt at 1e-4: no warning expected, none needed
            gf = snir.from_nir(f, dt=DT, preset="snntorch", reset=reset)
            gn = snir.from_nir(n, dt=DT, preset="snntorch", reset=reset)
        (yf, _, rf), (yn, _, rn) = gf(x, record=True), gn(x, record=True)
        assert yf.shape == (256, 7)
        np.testing.assert_array_equal(yf, yn)
        np.testing.assert_array_equal(rf["lif1.lif"]["v"], rn["lif1.lif1"]["v"])  # the recurrent layer's trace
        assert 0 < float(yf.sum())


def test_task3_unreadable_braille_graphs_give_a_clear_error(ref_dir):
    for f in sorted((ref_dir / "nir" / "paper_03_rnn" / "subgraph_nirrepo_unreadable").glob("*.nir")):
        with pytest.raises(ValueError, match=r"cannot read NIR file .*references destination node 'lif'"):
            snir.from_nir(f, dt=DT)


def test_graph_state_continues_and_vmap_equals_loop(ref_dir, key):
    flat, _ = braille_files(ref_dir)
    graph = snir.from_nir(flat[1], dt=DT, preset="snntorch", reset="subtract")
    x = (jax.random.uniform(key, (2, 40, 12)) < 0.2).astype(jnp.float32)
    whole = graph(x[0])[0]
    first, state, _ = graph(x[0, :15])
    second, _, _ = graph(x[0, 15:], state)
    np.testing.assert_array_equal(jnp.concatenate([first, second]), whole)
    batched = jax.vmap(lambda xb: graph(xb)[0])(x)
    for b in range(2):
        np.testing.assert_array_equal(batched[b], graph(x[b])[0])


def exportable(key):
    k = jax.random.split(key, 6)
    dt = 1e-3
    lin = sx.Linear.create(6, 5, key=k[0])
    return {
        "LIF": sx.Sequential(lin, sx.LIF.create(5, tau_mem=10e-3, tau_syn=5e-3, max_spikes_per_dt=1, dt=dt)),
        "IF, LI": sx.Sequential(
            lin,
            sx.IF.create(r=1 / dt, dt=dt),
            sx.Linear.create(5, 3, use_bias=False, key=k[1]),
            sx.LI.create(tau=5e-3, dt=dt),
        ),
        "LIFNode subtract": sx.Sequential(lin, sx.LIFNode.create(tau=3.0, v_reset=None, decay_input=False, dt=dt)),
        "CubaLIF, CubaLI": sx.Sequential(
            lin,
            sx.CubaLIF.create(
                tau_syn=2e-3,
                tau_mem=5e-3,
                r=5.0,
                w_in=3.0,
                dt=dt,
                integrator="exact",
                current="new",
                reset_at="next",
                v_reset=None,
                v_leak=0.2,
                v_init="v_leak",
            ),
            sx.Linear.create(5, 2, key=k[1]),
            sx.CubaLI.create(tau_syn=None, tau_mem=4e-3, dt=dt, integrator="decay"),
        ),
        "Recurrent": sx.Sequential(
            lin, sx.Recurrent(sx.LIF.create(5, max_spikes_per_dt=1, dt=dt), 0.5 * jax.random.normal(k[2], (5, 5)))
        ),
        # LIF (Rockpool's fields) with a LIFNode, and with a CubaLIF: each node keeps its own update.
        "LIF + LIFNode": sx.Sequential(
            lin,
            sx.LIF.create(5, max_spikes_per_dt=1, dt=dt),
            sx.Linear(jnp.full((5, 3), 0.6)),
            sx.LIFNode.create(tau=2.0, decay_input=False, dt=dt),
        ),
        "LIF + CubaLIF": sx.Sequential(
            lin,
            sx.LIF.create(5, max_spikes_per_dt=1, dt=dt),
            sx.Linear(jnp.full((5, 3), 0.6)),
            sx.CubaLIF.create(tau_syn=2e-3, tau_mem=5e-3, r=2.0, w_in=3.0, dt=dt),
        ),
        "CNN": sx.Sequential(
            sx.Conv2d.create(1, 2, 3, padding=1, key=k[3]),
            sx.IF.create(r=1 / dt, dt=dt),
            sx.AvgPool2d(2),
            sx.Flatten(),
            sx.Linear.create(18, 4, key=k[4]),
            sx.IF.create(r=1 / dt, dt=dt),
        ),
        "Conv1d": sx.Sequential(
            sx.Conv1d.create(2, 3, 3, stride=2, key=k[5]), sx.Flatten(), sx.IF.create(r=1 / dt, dt=dt)
        ),
    }


EXPORTABLE = [
    "LIF",
    "IF, LI",
    "LIFNode subtract",
    "CubaLIF, CubaLI",
    "Recurrent",
    "LIF + LIFNode",
    "LIF + CubaLIF",
    "CNN",
    "Conv1d",
]


@pytest.mark.parametrize("name", EXPORTABLE)
def test_export_write_read_import_gives_identical_outputs(key, tmp_path, name):
    models = exportable(key)
    assert sorted(models) == sorted(EXPORTABLE)  # every exportable model is tested
    model = models[name]
    shape = {"CNN": (1, 6, 6), "Conv1d": (2, 9)}.get(name)
    x = (jax.random.uniform(jax.random.fold_in(key, 7), (30,) + (shape or (6,))) < 0.4).astype(jnp.float32) * 3
    graph = snir.to_nir(model, input_shape=shape)
    assert graph.metadata["exporter"] == "spikax" and graph.metadata["dt"] == 1e-3
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    back = snir.from_nir(path, dt=1e-3)
    y, y_back = model(x)[0], back(x)[0]
    np.testing.assert_array_equal(y, y_back, err_msg=name)
    assert float(jnp.abs(y).sum()) > 0, name


def test_export_refuses_models_nir_cannot_express(key):
    with pytest.raises(ValueError, match="AdEx has no NIR counterpart"):
        snir.to_nir(sx.Sequential(sx.Linear.create(2, 3, key=key), sx.AdEx.create(3)))
    with pytest.raises(ValueError, match="2 synapses per neuron has no NIR counterpart"):
        snir.to_nir(sx.LIF.create(3, n_synapses=2))
    from spikax.devices.dynapse import DynapSim

    with pytest.raises(ValueError, match="DynapSim has no NIR counterpart"):
        snir.to_nir(DynapSim.create(2), input_shape=(2, 4))


def test_import_errors_name_the_node(tmp_path):
    lin = nir.Linear(weight=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"node 'delay' \(Delay\).*not whole multiples of dt"):
        snir.from_nir(nir.NIRGraph.from_list(lin, nir.Delay(delay=np.array([1.5e-3, 1e-3]))), dt=1e-3)
    odd = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "same": nir.ir.graph.Identity(input_type={"input": np.array([2])}),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "same"), ("same", "output")],
        type_check=False,
    )
    with pytest.raises(ValueError, match="node 'same' is an NIR Identity, which spikax cannot import"):
        snir.from_nir(odd, dt=1e-3)
    loop = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "a": nir.Linear(weight=np.eye(2)),
            "b": nir.Linear(weight=np.eye(2)),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
        type_check=False,
    )
    with pytest.raises(ValueError, match="algebraic loop"):
        snir.from_nir(loop, dt=1e-3)
    with pytest.raises(ValueError, match="does not exist"):
        snir.from_nir(tmp_path / "missing.nir", dt=1e-3)
    with pytest.raises(ValueError, match="`preset` must be one of"):
        snir.from_nir(loop, dt=1e-3, preset="brian")


def test_two_edges_into_one_node_are_summed(key):
    w1, w2 = np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([[0.5, 0.5], [1.0, -1.0]])
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "a": nir.Linear(weight=w1),
            "b": nir.Linear(weight=w2),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")],
        type_check=False,
    )
    x = jax.random.normal(key, (5, 2))
    np.testing.assert_allclose(snir.from_nir(g, dt=1e-3)(x)[0], x @ (w1 + w2).T, rtol=1e-6, atol=1e-6)


def test_the_cli_lists_and_runs_a_graph(ref_dir, tmp_path, capsys):
    from spikax.cli import main

    path = ref_dir / "nir" / "paper_01_lif" / "lif_norse.nir"
    data = trace(ref_dir, "norse")
    np.savez(tmp_path / "x.npz", x=data[:, :1].astype(np.float32))
    assert (
        main(
            [
                "nir",
                str(path),
                "--dt",
                "1e-4",
                "--preset",
                "norse",
                "--input",
                str(tmp_path / "x.npz"),
                "--out",
                str(tmp_path / "y.npz"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "LIF" in out and "(1,) -> (1,)" in out and "input -> 0" in out and "output total per channel: [4.]" in out
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["outputs"][:, 0], data[:, 2])
    assert main(["nir", str(tmp_path / "none.nir")]) == 2
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 3)))
    assert main(["nir", str(path), "--input", str(tmp_path / "bad.npz")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "the graph takes (T, 1)" in err


def reset_snntorch(net):
    from snntorch import utils

    utils.reset(net)


def _torch_input(key, shape):
    return np.asarray((jax.random.uniform(key, shape) < 0.35), np.float32)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_snntorch_exported_graphs_reproduce_snntorch_spikes(key, tmp_path, reset):
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        snn.Synaptic(
            alpha=torch.tensor([0.5, 0.6, 0.7, 0.4]),
            beta=torch.tensor([0.8, 0.7, 0.85, 0.75]),
            threshold=torch.ones(4),
            init_hidden=True,
            reset_mechanism=reset,
        ),
        torch.nn.Linear(4, 2),
        snn.Leaky(
            beta=torch.tensor([0.85, 0.9]),
            threshold=torch.full((2,), 0.8),
            init_hidden=True,
            output=True,
            reset_mechanism=reset,
        ),
    )
    rng = np.random.default_rng(3)
    with torch.no_grad():  # irregular positive weights: both layers fire, no membrane lands on a threshold
        net[0].weight.copy_(torch.tensor(rng.uniform(0.2, 1.2, (4, 3)), dtype=torch.float32))
        net[2].weight.copy_(torch.tensor(rng.uniform(0.1, 0.9, (2, 4)), dtype=torch.float32))
        net[0].bias.zero_(), net[2].bias.zero_()
    x = _torch_input(key, (50, 3))
    reset_snntorch(net)
    with torch.no_grad():
        ref = np.stack([net(torch.tensor(x[t]))[0].numpy() for t in range(50)])
    graph = export_to_nir(net, torch.tensor(x[0]))
    nir.write(tmp_path / "snn.nir", graph)
    ours = snir.from_nir(
        tmp_path / "snn.nir", dt=1e-4, preset="snntorch", reset="subtract" if reset == "subtract" else "to_v_reset"
    )
    np.testing.assert_array_equal(ours(x)[0], ref)
    assert 0 < ref.sum() < ref.size


def test_spikax_graph_runs_in_snntorch_and_norse_with_the_same_spikes(key, tmp_path):
    torch = pytest.importorskip("torch")
    k1, k2 = jax.random.split(key)
    dt = 1e-4
    # snnTorch's importer makes Synaptic(alpha = 1 - dt/tau_syn, beta = 1 - dt/tau_mem) at dt = 1e-4, with a
    # reset to zero in the step it fires; Norse's steps Euler with the new current: both are this CubaLIF.
    cell = sx.CubaLIF.create(tau_syn=4e-4, tau_mem=5e-4, r=5e-4 / dt, w_in=4e-4 / dt, v_reset=0.0, dt=dt, current="new")
    model = sx.Sequential(sx.Linear(2.0 * jax.random.normal(k1, (3, 4))), cell)
    x = _torch_input(k2, (40, 3))
    ours = np.asarray(model(x)[0])
    assert 0 < ours.sum() < ours.size
    graph = snir.to_nir(model)
    nir.write(tmp_path / "ours.nir", graph)
    checked = 0
    try:
        from snntorch.import_nir import import_from_nir
    except ImportError:
        pass
    else:
        net = import_from_nir(nir.read(tmp_path / "ours.nir"))
        reset_snntorch(net)
        with torch.no_grad():
            theirs = np.stack([np.asarray(net(torch.tensor(x[t]))[0]) for t in range(40)])
        np.testing.assert_array_equal(theirs.reshape(ours.shape), ours)
        checked += 1
    try:
        import norse.torch as norse
    except ImportError:
        pass
    else:
        net = norse.from_nir(nir.read(tmp_path / "ours.nir"), dt=dt)
        state, out = None, []
        with torch.no_grad():
            for t in range(40):
                y, state = net(torch.tensor(x[t]), state)
                out.append(y.numpy())
        np.testing.assert_array_equal(np.stack(out), ours)
        checked += 1
    if not checked:
        pytest.skip("neither snntorch nor norse is installed")


def test_norse_preset_reproduces_norse_lifcell_with_a_resting_potential(key):
    torch = pytest.importorskip("torch")
    norse = pytest.importorskip("norse.torch")
    dt, n = 1e-3, 4
    p = norse.LIFParameters(
        tau_syn_inv=torch.tensor(200.0),
        tau_mem_inv=torch.tensor(100.0),
        v_leak=torch.tensor(0.3),
        v_th=torch.tensor(1.0),
        v_reset=torch.tensor(0.0),
    )
    cell = norse.LIFCell(p, dt=dt)
    w = np.asarray(jax.random.uniform(key, (n, 3), minval=0.5, maxval=3.0), np.float32)
    x = _torch_input(jax.random.fold_in(key, 1), (50, 3))
    state, ref = None, []
    with torch.no_grad():
        for t in range(50):
            z, state = cell(torch.tensor(x[t] @ w.T), state)
            ref.append(z.numpy())
    ref = np.stack(ref)
    # Norse's parameters as NIR (SI) fields: its current jumps by x, i.e. w_in = tau_syn / dt under Euler.
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=w),
        nir.CubaLIF(
            tau_syn=np.full(n, 5e-3),
            tau_mem=np.full(n, 1e-2),
            r=np.ones(n),
            w_in=np.full(n, 5e-3 / dt),
            v_leak=np.full(n, 0.3),
            v_threshold=np.ones(n),
            v_reset=np.zeros(n),
        ),
    )
    ours = snir.from_nir(graph, dt=dt, preset="norse")(x)[0]
    np.testing.assert_array_equal(ours, ref)
    assert 0 < ref.sum() < ref.size


def test_a_delay_closes_a_cycle_with_exactly_its_steps():
    from spikax.layers import Delay, Identity, Scale

    loop = sx.Graph(
        {"in": Identity(), "n": sx.IF.create(r=1e3, v_threshold=0.5), "d": Delay(2)},
        [("in", "n"), ("n", "d"), ("d", "n")],
        inputs={"in": (1,)},
        outputs=["n"],
    )
    x = np.zeros((10, 1), np.float32)
    x[0] = 1.0
    y = np.asarray(loop(x)[0])[:, 0]
    np.testing.assert_array_equal(np.nonzero(y)[0], [0, 2, 4, 6, 8])  # a period of 2 steps, not 3
    first, state, _ = loop(x[:3])
    np.testing.assert_array_equal(np.concatenate([first, loop(x[3:], state)[0]])[:, 0], y)
    echo = sx.Graph(
        {"in": Identity(), "a": Scale(jnp.ones(1)), "d": Delay(3)},
        [("in", "a"), ("a", "d"), ("d", "a")],
        inputs={"in": (1,)},
        outputs=["a"],
    )
    np.testing.assert_array_equal(np.asarray(echo(x)[0])[:, 0], [1, 0, 0, 1, 0, 0, 1, 0, 0, 1])
    # A neuron on two loops, one through recurrent weights (one step) and one through Delay(3):
    # each loop keeps its own latency.
    both = sx.Graph(
        {"in": Identity(), "n": sx.IF.create(r=1e3, v_threshold=0.5), "w": Scale(jnp.full(1, 0.3)), "d": Delay(3)},
        [("in", "n"), ("n", "w"), ("w", "n"), ("n", "d"), ("d", "n")],
        inputs={"in": (1,)},
        outputs=["n"],
    )
    _, _, rec = both(x, record=True)
    v, v_ref, v_now, s_prev, line = np.asarray(rec["n"]["v"])[:, 0], [], 0.0, 0.0, [0.0] * 3
    for t in range(10):  # IF: v += dt r (x + 0.3 s_{t-1} + s_{t-3}), fire at v > 0.5, reset to 0
        h = v_now + 1e-3 * 1e3 * (x[t, 0] + 0.3 * s_prev + line[-3])
        s = float(h > 0.5)
        v_now, s_prev = (0.0 if s else h), s
        line.append(s)
        v_ref.append(v_now)
    np.testing.assert_allclose(v, v_ref, atol=1e-6)


def test_reexport_keeps_names_per_step_time_and_yields_to_explicit_choices(tmp_path):
    # A per-step graph (Sinabs' IF: v += x each step) keeps its step through a re-export.
    src = nir.NIRGraph.from_list(
        nir.Affine(weight=np.array([[0.6, 0.3], [0.2, 0.9]]), bias=np.zeros(2)),
        nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
    )
    per_step = snir.from_nir(src, dt=1e-3, preset="sinabs")
    nir.write(tmp_path / "step.nir", snir.to_nir(per_step, dt=1e-3))
    again = snir.from_nir(tmp_path / "step.nir", dt=1e-3)  # its IF steps per frame, as recorded
    frames = np.ones((12, 2), np.float32)
    expected = per_step(frames)[0]
    np.testing.assert_array_equal(again(frames)[0], expected)
    assert float(expected.sum()) > 0
    # A graph with two named outputs, one of them a neuron: the names survive the round trip.
    lif = sx.CubaLIF.create(tau_syn=2e-3, tau_mem=5e-3, r=3.0, current="new")
    g = sx.Graph(
        {"x": sx.Linear(jnp.eye(3)), "a": lif, "b": sx.Linear(jnp.ones((3, 2)))},
        [("x", "a"), ("a", "b")],
        inputs={"x": (3,)},
        outputs=["a", "b"],
    )
    nir.write(tmp_path / "g.nir", snir.to_nir(g))
    back = snir.from_nir(tmp_path / "g.nir", dt=1e-3)
    xs = np.ones((20, 3), np.float32)
    ys = back(xs)[0]
    assert set(ys) == {"a", "b"} and back.inputs[0][0] == "x"
    np.testing.assert_array_equal(ys["a"], g(xs)[0]["a"])
    # An explicit choice wins over what the file records, field by field (time: the neurons' step).
    old = snir.from_nir(tmp_path / "g.nir", dt=1e-3, current="old")
    assert old.nodes["a.node"].current == "old" and back.nodes["a.node"].current == "new"
    assert again.nodes["if"].dt == 1.0
    assert snir.from_nir(tmp_path / "step.nir", dt=1e-3, time="s").nodes["if"].dt == 1e-3
    # A name the export would make for a renamed node is taken already: it picks another.
    clash = sx.Graph(
        {"a": sx.Linear(jnp.eye(3)), "a.node": sx.layers.Scale(jnp.ones(3)), "n": lif},
        [("a", "a.node"), ("a.node", "n")],
        inputs={"a": (3,)},
        outputs=["n"],
    )
    nir.write(tmp_path / "clash.nir", snir.to_nir(clash))
    np.testing.assert_array_equal(snir.from_nir(tmp_path / "clash.nir", dt=1e-3)(xs)[0], clash(xs)[0])
