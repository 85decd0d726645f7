"""trace_layers: the models it runs, and the models it refuses, checked on the message."""

import pytest
import torch
from torch import nn

from nn2graph import NN2GraphError, TracingError, to_graph
from nn2graph.tracing import trace_layers


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


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_module_is_pointed_to_the_torchscript_loader():
    with pytest.raises(TracingError, match="TorchScript module"):
        to_graph(torch.jit.script(nn.Sequential(nn.Linear(2, 2))), (2,))


def test_the_input_nodes_follow_the_first_weighted_layer():
    conv = trace_layers(nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten(), nn.Linear(8, 1)), (3, 2, 2))
    mlp = trace_layers(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), (3, 2, 2))
    per_position = trace_layers(nn.Sequential(nn.Linear(4, 2), nn.Flatten(), nn.Linear(6, 1)), (3, 4))
    assert (conv.n_input, mlp.n_input, per_position.n_input) == (3, 12, 4)  # channels, elements, features
    assert [c.first_node for c in per_position.layers] == [4, 6]
