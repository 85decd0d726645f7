"""The model-file front end: TorchScript archives rebuilt as eager modules, pickles."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nn2graph import to_graph
from nn2graph.torchscript import ModelFileError, from_torchscript, load_model
from tests.graph_models import prune_all, script, scriptable_pruned_cnn


@pytest.fixture
def cnn():
    return scriptable_pruned_cnn()


def test_rebuilt_torchscript_model_gives_the_same_graph(cnn):
    rebuilt = from_torchscript(script(cnn))
    a, b = to_graph(cnn, (1, 28, 28)), to_graph(rebuilt, (1, 28, 28))
    assert a.layers == b.layers
    assert a.graph.get_edgelist() == b.graph.get_edgelist()
    assert a.graph.es["multiplicity"] == b.graph.es["multiplicity"]


class _Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4 * 6 * 6, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = self.drop(F.dropout(self.block(x), 0.3, self.training))
        x = x.view(x.size(0), -1)
        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)


def test_torchscript_chain_with_its_own_forward_is_rebuilt():
    model = prune_all(_Chain(), 0.5)
    for module in model.modules():
        if hasattr(module, "weight_mask"):
            torch.nn.utils.prune.remove(module, "weight")
    rebuilt = from_torchscript(script(model))
    x = torch.randn(3, 1, 14, 14)
    assert torch.allclose(rebuilt.eval()(x), model.eval()(x))
    a, b = to_graph(model, (1, 14, 14)), to_graph(rebuilt, (1, 14, 14))
    assert a.layers == b.layers == ("input", "conv1", "block.0", "fc")
    assert a.graph.get_edgelist() == b.graph.get_edgelist()
    assert a.graph.es["multiplicity"] == b.graph.es["multiplicity"]


def test_torchscript_with_a_residual_forward_is_refused_clearly():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x) + x

    with pytest.raises(ModelFileError, match=r"the top module .*\('Net'\) uses the operation 'aten::add'.*--trust-pickle"):
        from_torchscript(script(Net()))


def test_pickled_state_dict_is_refused(cnn, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(cnn.state_dict(), path)
    with pytest.raises(ModelFileError, match="holds a OrderedDict, not an nn.Module"):
        load_model(path, trust_pickle=True)
