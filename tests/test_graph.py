"""to_graph and layer_degrees: the paper's counts, residual/concat/shared layers, both paths equal."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from nn2graph import LayeredGraph, UnsupportedLayerError, layer_degrees, to_graph
from tests.graph_models import Concat, Residual, mlp, mnist_cnn, prune_all, vgg_like


def _edges(layered, lower, upper):
    g = layered.graph
    pairs = {}
    for e in g.es:
        s, t = g.vs[e.source], g.vs[e.target]
        if (s["layer"], t["layer"]) == (lower, upper):
            pairs[(s["unit"], t["unit"])] = e["multiplicity"]
    return pairs


def test_unpruned_mnist_cnn_has_the_papers_counts():
    layered = to_graph(mnist_cnn(), (1, 28, 28))
    assert layered.layers == ("input", "0", "3", "7", "10")
    degrees = layered.degrees()
    assert list(degrees) == ["input", "0", "3", "7"]
    assert degrees["0"].tolist() == [14_400 + 51_200] * 32
    assert degrees["input"].tolist() == [32 * 14_400]
    assert degrees["3"].tolist() == [32 * 25 * 8 * 8 + 256 * 4 * 4] * 32
    assert degrees["7"].tolist() == [512] * 256  # last pruned layer: lower edges only
    g = layered.graph
    assert g.vcount() == 1 + 32 + 32 + 256 + 10
    assert g.ecount() == 32 + 32 * 32 + 32 * 256 + 256 * 10
    assert set(g.es.select(_source_in=g.vs.select(layer="3").indices)["multiplicity"]) == {16}
    assert all(isinstance(v, int) for v in g.vs["unit"]) and isinstance(g.es[0]["multiplicity"], int)


def test_mlp_degrees_are_row_and_column_nonzero_counts():
    model = prune_all(mlp((20, 16, 12, 5)), 0.5)
    w1, w2 = (m.weight.detach().numpy() for m in (model[1], model[3]))
    degrees = to_graph(model, (20,)).degrees()
    assert degrees["input"].tolist() == (w1 != 0).sum(axis=0).tolist()
    assert degrees["1"].tolist() == ((w1 != 0).sum(axis=1) + (w2 != 0).sum(axis=0)).tolist()
    assert degrees["3"].tolist() == (w2 != 0).sum(axis=1).tolist()


def test_mlp_on_an_image_has_a_node_per_pixel():
    model = prune_all(mlp((16, 6, 3)), 0.3)
    layered = to_graph(model, (1, 4, 4))
    assert layered.degrees()["input"].tolist() == (model[1].weight.detach().numpy() != 0).sum(axis=0).tolist()
    assert layered.graph.vs.select(layer="input")["unit"] == list(range(16))


def test_flatten_edge_counts_nonzero_weights_over_a_maps_positions():
    model = prune_all(mnist_cnn(), 0.7, seed=3)
    got = _edges(to_graph(model, (1, 28, 28)), "3", "7")
    w = model[7].weight.detach().numpy().reshape(256, 32, 16)
    expected = {(c, j): int(n) for j, c in zip(*np.nonzero((w != 0).sum(axis=2))) for n in [(w[j, c] != 0).sum()]}
    assert got == expected


def test_residual_net_has_its_skip_edges():
    model = prune_all(Residual(), 0.3, seed=2)
    layered = to_graph(model, (2, 6, 6))
    assert layered.layers == ("input", "c1", "c2", "c3", "fc")
    w = model.fc.weight.detach().numpy()
    expected = {(c, j): 1 for j, c in zip(*np.nonzero(w))}
    assert _edges(layered, "c1", "fc") == expected  # the skip
    assert _edges(layered, "c3", "fc") == expected
    assert _edges(layered, "c2", "fc") == {}
    assert len(_edges(layered, "c1", "c2")) > 0


def test_concatenation_maps_channels_to_the_layer_that_made_them():
    torch.manual_seed(0)
    model = prune_all(Concat(), 0.5, seed=4)
    layered = to_graph(model, (2, 7, 7))
    mask = model.top.weight.detach().numpy() != 0  # (5, 10, 3, 3); channels: left 0-2, right 3-6, left 7-9
    # 7x7 -> 5x5 after the 3x3 convs; top: stride 2, padding 1 -> 3x3 output; every tap's count:
    counts = np.array([2, 3, 2])  # reads 2i-1+u of 0..4: tap 0 hits padding at i=0, tap 2 at i=2
    per_tap = np.multiply.outer(counts, counts)
    taps = (mask * per_tap).sum(axis=(2, 3))
    left = {(c, o): int(taps[o, c] + taps[o, c + 7]) for o in range(5) for c in range(3) if taps[o, c] + taps[o, c + 7]}
    right = {(c, o): int(taps[o, c + 3]) for o in range(5) for c in range(4) if taps[o, c + 3]}
    assert _edges(layered, "left", "top") == left
    assert _edges(layered, "right", "top") == right


class _SharedTwice(nn.Module):
    def __init__(self, distinct_inputs):
        super().__init__()
        self.a, self.b, self.shared, self.out = nn.Linear(5, 4), nn.Linear(5, 4), nn.Linear(4, 3), nn.Linear(3, 2)
        self.distinct_inputs = distinct_inputs

    def forward(self, x):
        a = self.a(x)
        other = self.b(x) if self.distinct_inputs else a
        return self.out(self.shared(a) + self.shared(other))


def test_a_layer_called_twice_is_one_layer_fed_by_both_inputs():
    model = prune_all(_SharedTwice(distinct_inputs=True), 0.4, seed=5)
    layered = to_graph(model, (5,))
    assert layered.layers == ("input", "a", "b", "shared", "out")
    w = model.shared.weight.detach().numpy()
    expected = {(c, j): 1 for j, c in zip(*np.nonzero(w))}
    assert _edges(layered, "a", "shared") == expected == _edges(layered, "b", "shared")


def test_a_layer_called_twice_on_the_same_input_counts_each_connection_once():
    model = prune_all(_SharedTwice(distinct_inputs=False), 0.4, seed=5)
    layered = to_graph(model, (5,))
    assert layered.layers == ("input", "a", "shared", "out")
    w = model.shared.weight.detach().numpy()
    assert _edges(layered, "a", "shared") == {(c, j): 1 for j, c in zip(*np.nonzero(w))}


def test_a_layer_fed_by_its_own_output_is_refused():
    fc = nn.Linear(3, 3)

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = fc

        def forward(self, x):
            return self.fc(self.fc(x))

    with pytest.raises(UnsupportedLayerError, match="layer 'fc' \\(Linear\\) is fed by its own output"):
        to_graph(Loop(), (3,))


MODELS = {
    "mlp": (lambda: prune_all(mlp(), 0.6), (20,)),
    "cnn": (lambda: prune_all(mnist_cnn(), 0.7), (1, 28, 28)),
    "residual": (lambda: prune_all(Residual(), 0.5), (2, 6, 6)),
    "concat": (lambda: prune_all(Concat(), 0.5), (2, 7, 7)),
    "shared": (lambda: prune_all(_SharedTwice(True), 0.5), (5,)),
    "vgg_like": (lambda: prune_all(vgg_like(), 0.3), (3, 16, 16)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layer_degrees_equal_graph_degrees(name):
    build, shape = MODELS[name]
    model = build()
    layered = to_graph(model, shape)
    assert isinstance(layered, LayeredGraph)
    for include_input, include_output, output_edges in itertools.product([True, False], repeat=3):
        switches = dict(include_input=include_input, include_output=include_output, output_edges=output_edges)
        direct = layer_degrees(model, shape, **switches)
        from_graph = layered.degrees(**switches)
        assert list(direct) == list(from_graph)
        for layer in direct:
            assert direct[layer].dtype == np.int64
            np.testing.assert_array_equal(direct[layer], from_graph[layer])


def test_weights_sum_absolute_values_over_connections():
    model = prune_all(mnist_cnn(), 0.5, seed=7)
    g = to_graph(model, (1, 28, 28)).graph
    fc = model[10].weight.detach().abs().double()
    into_out = g.es.select(_target_in=g.vs.select(layer="10").indices)
    assert sum(into_out["weight"]) == pytest.approx(float(fc.sum()))
    conv1 = model[0].weight.detach().abs().double().sum() * 24 * 24
    assert sum(g.es.select(_source_in=[0])["weight"]) == pytest.approx(float(conv1))


def test_model_training_mode_is_restored():
    model = mnist_cnn().train()
    to_graph(model, (1, 28, 28))
    assert all(m.training for m in model.modules())


class _Overlap(nn.Module):
    """Feature i of the top layer's input comes from a_i; feature 4 + i from a_i and b_i."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.top, self.out = nn.Linear(3, 4), nn.Linear(3, 4), nn.Linear(8, 5), nn.Linear(5, 2)

    def forward(self, x):
        a = self.a(x)
        return self.out(self.top(torch.cat([a, a + self.b(x)], dim=1)))


def test_a_node_reaching_a_unit_through_several_features_counts_each_connection():
    model = prune_all(_Overlap(), 0.3, seed=8)
    layered = to_graph(model, (3,))
    w = model.top.weight.detach().numpy()
    sources = [{("a", i)} for i in range(4)] + [{("a", i), ("b", i)} for i in range(4)]
    expected = {"a": {}, "b": {}}
    for j in range(5):
        for f in range(8):
            if w[j, f] != 0:
                for layer, unit in sources[f]:
                    expected[layer][(unit, j)] = expected[layer].get((unit, j), 0) + 1
    assert _edges(layered, "a", "top") == expected["a"]
    assert _edges(layered, "b", "top") == expected["b"]
    direct = layer_degrees(model, (3,))
    assert all(np.array_equal(direct[k], v) for k, v in layered.degrees().items())
