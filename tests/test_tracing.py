"""Tracing: pass-through operations and every bad-input error, checked on its message."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nn2graph import InputShapeError, NN2GraphError, TracingError, UnsupportedLayerError, layer_degrees, to_graph
from nn2graph.tracing import trace_layers
from tests.graph_models import mnist_cnn


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


def test_unfollowed_reshape_is_refused_with_shapes():
    class Reshaper(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.conv = nn.Conv1d(2, 2, 2)

        def forward(self, x):
            return self.conv(self.fc(x).view(-1, 2, 4))

    with pytest.raises(UnsupportedLayerError, match=r"layer 'conv' \(Conv1d\) reads an input of shape \(1, 2, 4\) whose features lie along dimension\(s\) \[1, 2\]"):
        to_graph(Reshaper(), (8,))


def test_wrong_input_shape_names_the_layer_and_what_it_expects(capsys):
    with pytest.raises(InputShapeError, match=r"layer '7' \(Linear\) got input of shape \(1, 800\) but expects \(\.\.\., 512\) features"):
        to_graph(mnist_cnn(), (1, 32, 32))
    with pytest.raises(InputShapeError, match=r"layer '0' \(Conv2d\) got input of shape \(1, 3, 28, 28\) but expects \(batch, 1, H, W\)"):
        to_graph(mnist_cnn(), (3, 28, 28))
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""  # no traceback printed before the message


def test_data_dependent_control_flow_runs_eagerly():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)

    assert to_graph(Branchy(), (3,)).degrees(output_edges=True)["input"].tolist() == [2, 2, 2]


def test_model_without_weighted_layer_is_refused():
    with pytest.raises(NN2GraphError, match=r"Sequential has no weighted layer.*supported weighted layers: .*Conv2d, .*Linear"):
        to_graph(nn.Sequential(nn.ReLU(), nn.Flatten()), (4,))


def test_model_with_two_inputs_is_refused():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x, y):
            return self.fc(x + y)

    with pytest.raises(TracingError, match=r"nn2graph calls Two.forward with one input tensor of shape \(1, 2\).*missing 1 required positional argument"):
        to_graph(Two(), (2,))


def test_input_feeding_linear_and_conv_layers_is_refused():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv1d(1, 1, 1), nn.Linear(4, 4)

        def forward(self, x):
            return self.conv(x).flatten(1) + self.fc(x.flatten(1))

    with pytest.raises(TracingError, match="feeds both linear and convolutional layers"):
        to_graph(Mixed(), (1, 4))


def test_pooling_the_pixels_of_an_mlp_is_refused():
    net = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedLayerError, match=r"operation 'max_pool2d' mixing positions that carry different nodes \(input pixels.* in module '0' \(MaxPool2d\)"):
        to_graph(net, (1, 4, 4))


def test_linear_on_a_multidimensional_input_asks_to_flatten():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Linear(4, 2))
    with pytest.raises(UnsupportedLayerError, match=r"layer '1' \(Linear\) reads an input of shape \(1, 2, 4, 4\) whose features lie along dimension\(s\) \[1, 3\].*permute or reshape"):
        to_graph(net, (1, 4, 4))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_module_is_pointed_to_the_torchscript_loader():
    with pytest.raises(TracingError, match="TorchScript module"):
        to_graph(torch.jit.script(nn.Sequential(nn.Linear(2, 2))), (2,))


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


class _MyLinear(nn.Linear):
    """A subclass of a registered layer defined outside torch.nn, with a forward of its own."""

    def forward(self, x):
        return super().forward(x) * 2.0


def test_subclass_of_a_registered_layer_uses_its_base_handler():
    from torch.nn.utils import prune

    torch.manual_seed(0)
    layer = prune.random_unstructured(_MyLinear(5, 3), "weight", amount=0.4)
    net = nn.Sequential(layer, nn.ReLU(), nn.Linear(3, 2))
    layered = to_graph(net, (5,))
    assert layered.types[1] == "_MyLinear"
    assert layered.degrees()["input"].tolist() == (layer.weight != 0).sum(dim=0).tolist()


def test_a_failed_call_leaves_the_model_as_it_was():
    from torch.nn.utils import prune

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = prune.l1_unstructured(_MyLinear(4, 4), "weight", amount=0.5)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(torch.cumsum(self.fc(x), 1))

    model = Bad().train()
    model.out.eval()
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]
    with pytest.raises(UnsupportedLayerError, match=r"operation 'cumsum' in module '\(the model\)' \(Bad\)"):
        to_graph(model, (4,))
    assert isinstance(model.fc.weight, torch.Tensor) and type(model.fc.weight) is torch.Tensor
    assert [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()] == hooks
    assert model.training and model.fc.training and not model.out.training
    model(torch.zeros(1, 4))  # still runs


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


def test_transformers_conv1d_has_a_handler():
    pytest.importorskip("transformers")
    from transformers.pytorch_utils import Conv1D

    layer = Conv1D(3, 5)  # nf=3 outputs, nx=5 inputs; weight (5, 3)
    with torch.no_grad():
        layer.weight[1] = 0.0
    layered = to_graph(nn.Sequential(layer, nn.ReLU(), nn.Linear(3, 2)), (4, 5))  # 4 tokens
    assert layered.degrees()["input"].tolist() == [4 * 3, 0, 4 * 3, 4 * 3, 4 * 3]


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


def test_convert_with_a_wrong_input_shape_prints_only_the_message(tmp_path, capsys):
    from nn2graph.cli import main

    path = tmp_path / "cnn.pt"
    torch.save(mnist_cnn(), path)
    code = main(["convert", str(path), "--input-shape", "1,32,32", "--trust-pickle"])
    captured = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in captured.err + captured.out
    assert "layer '7' (Linear) got input of shape (1, 800)" in captured.err


def test_token_ids_given_as_floats_say_to_pass_dtype_long():
    model = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 4))
    with pytest.raises(InputShapeError, match=r"'0' \(Embedding\).*token ids below 50.*dtype=torch\.long"):
        layer_degrees(model, (6,))
    assert {"input", "0"} <= set(layer_degrees(model, (6,), dtype=torch.long))
