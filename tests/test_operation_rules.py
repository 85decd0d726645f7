"""Operation rules: pass-through, merging, gates, contractions and refused operations, checked on edges and messages."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nn2graph import UnsupportedLayerError, to_graph
from nn2graph.tracing import trace_layers


class _Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3)
        self.fc = nn.Linear(3 * 3, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        y = F.max_pool1d(F.relu(self.conv(x)), 2)
        y = F.dropout(torch.sigmoid(y) * 2.0, 0.1, self.training)
        y = y.view(y.size(0), -1)
        return F.log_softmax(self.out(torch.tanh(self.fc(y))), dim=1)


def test_functional_pass_through_operations_are_followed():
    traced = trace_layers(_Functional(), (2, 8))
    assert [(c.path, c.n_units) for c in traced.layers] == [("conv", 3), ("fc", 4), ("out", 2)]
    assert traced.n_input == 2
    fc_sources = traced.layers[1].inputs[0]
    assert fc_sources.length == 9 and fc_sources.node.tolist() == [2] * 3 + [3] * 3 + [4] * 3


def test_unsupported_operation_names_module_path_type_and_what_is_supported():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.cumsum(self.fc(x), dim=1)

    net = nn.Sequential(nn.Linear(4, 4), Block(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedLayerError, match=r"operation 'cumsum' in module '1' \(Block\) is not supported: .*Conv2d, .*Linear"):
        to_graph(net, (4,))


def test_pooling_the_pixels_of_an_mlp_is_refused():
    net = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedLayerError, match=r"operation 'max_pool2d' mixing positions that carry different nodes \(input pixels.* in module '0' \(MaxPool2d\)"):
        to_graph(net, (1, 4, 4))


def test_concatenation_along_positions_keeps_the_channels():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.top = nn.Conv1d(1, 2, 1), nn.Conv1d(2, 2, 1)

        def forward(self, x):
            y = self.conv(x)
            return self.top(torch.cat([y, y], dim=2))

    layered = to_graph(Stack(), (1, 4))
    edges = sorted(zip(layered.source.tolist(), layered.target.tolist(), layered.multiplicity.tolist()))
    # channel c of conv feeds top's channels through its one tap at all 8 positions of the concatenation
    assert edges == [(0, 1, 4), (0, 2, 4), (1, 3, 8), (1, 4, 8), (2, 3, 8), (2, 4, 8)]


def test_mean_over_the_channels_merges_them():
    class ChannelMean(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 3, 1), nn.Linear(9, 2)

        def forward(self, x):
            return self.fc(self.conv(x).mean(1).flatten(1))

    net = ChannelMean()
    layered = to_graph(net, (1, 3, 3))
    nonzero = (net.fc.weight != 0).sum(dim=1).tolist()
    edges = sorted(zip(layered.source.tolist(), layered.target.tolist(), layered.multiplicity.tolist()))
    assert [e for e in edges if e[1] >= 4] == [(c, 4 + j, nonzero[j]) for c in (1, 2, 3) for j in (0, 1)]


def test_a_parameter_used_as_a_weight_matrix_is_refused_naming_it():
    class Raw(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.mix = nn.Parameter(torch.randn(3, 3))

        def forward(self, x):
            return self.fc(x) @ self.mix

    with pytest.raises(UnsupportedLayerError, match=r"multiplying traced features by parameter 'mix' in module '\(the model\)' \(Raw\).*nn.Linear"):
        to_graph(Raw(), (3,))

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.w = nn.Parameter(torch.randn(2, 3))

        def forward(self, x):
            return F.linear(self.fc(x), self.w)

    with pytest.raises(UnsupportedLayerError, match=r"operation 'linear' with parameter 'w' that belongs to no layer with a handler"):
        to_graph(Functional(), (3,))


def test_a_learned_zero_gate_removes_the_features_connections():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(3, 4), nn.Linear(4, 2)
            self.register_buffer("gate", torch.tensor([1.0, 0.0, 2.0, 0.5]))

        def forward(self, x):
            return self.out(self.fc(x) * self.gate)

    layered = to_graph(Gated(), (3,))
    fc_unit_1 = layered.starts[1] + 1
    assert fc_unit_1 not in layered.source.tolist()
    assert layered.degrees(output_edges=True)["fc"].tolist() == [3 + 2, 3, 3 + 2, 3 + 2]


def test_glu_multiplies_the_two_halves():
    net = nn.Sequential(nn.Linear(3, 4), nn.GLU(), nn.Linear(2, 1))
    layered = to_graph(net, (3,))
    edges = sorted(zip(layered.source.tolist(), layered.target.tolist()))
    assert [e for e in edges if e[1] == 7] == [(3, 7), (4, 7), (5, 7), (6, 7)]


def test_writing_traced_features_into_a_constant_buffer():
    class Writer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(2, 3), nn.Linear(5, 1)

        def forward(self, x):
            canvas = torch.zeros(1, 5)
            canvas[:, 1:4] = self.fc(x)
            return self.out(canvas)

    layered = to_graph(Writer(), (2,))
    into_out = sorted(s for s, t in zip(layered.source.tolist(), layered.target.tolist()) if t == 5)
    assert into_out == [2, 3, 4]  # fc's units sit at features 1-3 of the canvas


def test_a_zero_weight_of_a_channels_first_layer_norm_gates_its_channel():
    from torchvision.models.convnext import LayerNorm2d

    net = nn.Sequential(nn.Conv2d(1, 3, 1), LayerNorm2d(3), nn.Conv2d(3, 2, 1))
    with torch.no_grad():
        net[1].weight[1] = 0.0
    layered = to_graph(net, (1, 2, 2))
    assert sorted(set(layered.source[layered.target >= 4].tolist())) == [1, 3]  # channel 1 (node 2) is off
