"""The recorder: weighted layers and their input features, handlers of subclasses, and a model left as it was."""

import numpy as np
import pytest
import torch
from torch import nn

from nn2graph import UnsupportedLayerError, to_graph
from nn2graph.features import Sources, Tracked
from nn2graph.trace_recorder import Recorder
from nn2graph.tracing import trace_layers


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


def test_linear_on_a_multidimensional_input_asks_to_flatten():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Linear(4, 2))
    with pytest.raises(UnsupportedLayerError, match=r"layer '1' \(Linear\) reads an input of shape \(1, 2, 4, 4\) whose features lie along dimension\(s\) \[1, 3\].*permute or reshape"):
        to_graph(net, (1, 4, 4))


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


def test_transformers_conv1d_has_a_handler():
    pytest.importorskip("transformers")
    from transformers.pytorch_utils import Conv1D

    layer = Conv1D(3, 5)  # nf=3 outputs, nx=5 inputs; weight (5, 3)
    with torch.no_grad():
        layer.weight[1] = 0.0
    layered = to_graph(nn.Sequential(layer, nn.ReLU(), nn.Linear(3, 2)), (4, 5))  # 4 tokens
    assert layered.degrees()["input"].tolist() == [4 * 3, 0, 4 * 3, 4 * 3, 4 * 3]


def test_a_layer_called_twice_records_both_calls_in_one_layer():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.shared = nn.Linear(3, 4), nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            return self.shared(y) + self.shared(torch.flip(y, [1]))

    traced = trace_layers(Twice(), (3,))
    shared = traced.layers[1]
    assert (shared.path, len(traced.layers), len(shared.inputs)) == ("shared", 2, 2)
    assert shared.inputs[0].node.tolist() == [3, 4, 5, 6] and shared.inputs[1].node.tolist() == [6, 5, 4, 3]


def test_the_recorder_forgets_a_tensor_once_it_is_gone():
    net = nn.Linear(2, 2)
    recorder = Recorder(net, "features", 2)
    x = torch.zeros(1, 2)
    recorder.put(x, Tracked(np.array([[1, 2]]), Sources.identity(np.array([0, 1]))))
    assert recorder.get(x).codes.tolist() == [[1, 2]] and recorder.get(torch.zeros(1, 2)) is None
    del x
    assert recorder.env == {}
