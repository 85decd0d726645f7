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


_ARGUMENTS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "in_features",
              "out_features", "p", "eps", "momentum", "num_features", "affine", "start_dim", "end_dim",
              "negative_slope", "dim", "output_size", "ceil_mode", "count_include_pad")


def _arguments(module):
    def same(value):  # 2 and (2, 2) are the same pooling size
        return value[0] if isinstance(value, tuple) and len(set(value)) == 1 else value

    return {name: same(getattr(module, name)) for name in _ARGUMENTS if hasattr(module, name)} | {
        "bias": getattr(module, "bias", None) is not None}


def _traced(model, shape):
    """``torch.jit.trace`` in eval mode, without its deprecation warning (torch 2.14)."""
    import warnings

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.trace(model, torch.zeros(1, *shape))


@pytest.mark.parametrize("layers, shape", [
    ([nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3),
      nn.Flatten(), nn.Linear(4 * 7 * 7, 10)], (1, 28, 28)),
    ([nn.Conv2d(3, 6, 3, padding="same", groups=3, bias=False), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2),
      nn.Flatten(), nn.Linear(24, 5), nn.LeakyReLU(0.2), nn.Softmax(dim=1)], (3, 8, 8)),
    ([nn.Conv1d(2, 3, 3, dilation=2), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 6, 4, bias=False)], (2, 10)),
])
def test_traced_torchscript_is_rebuilt_layer_by_layer(layers, shape):
    model = prune_all(nn.Sequential(*layers), 0.5)
    for module in model.modules():
        if hasattr(module, "weight_mask"):
            torch.nn.utils.prune.remove(module, "weight")
    rebuilt = from_torchscript(_traced(model, shape)).eval()
    for mine, theirs in zip(rebuilt, model):  # the constructor arguments, read back from the trace
        assert type(mine) is type(theirs)
        assert _arguments(mine) == _arguments(theirs)
    x = torch.randn(3, *shape)
    assert torch.allclose(rebuilt(x), model(x), atol=1e-6)
    a, b = to_graph(model, shape), to_graph(rebuilt, shape)
    assert a.graph.get_edgelist() == b.graph.get_edgelist()
    assert a.graph.es["multiplicity"] == b.graph.es["multiplicity"]


def test_traced_chain_with_its_own_forward_is_rebuilt(tmp_path):
    model = _Chain()
    path = tmp_path / "chain.pt"
    torch.jit.save(_traced(model, (1, 14, 14)), str(path))
    rebuilt = load_model(path, input_shape=(1, 14, 14))
    x = torch.randn(2, 1, 14, 14)
    assert torch.allclose(rebuilt(x), model(x), atol=1e-6)
    assert to_graph(rebuilt, (1, 14, 14)).layers == ("input", "conv1", "block.0", "fc")


def test_a_traced_layer_with_several_operations_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(ModelFileError, match=r"submodule '0' .*traced Conv2d that runs aten::pad, aten::_convolution"):
        from_torchscript(_traced(model, (1, 5, 5)))


def test_a_rebuilt_model_that_computes_something_else_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    import nn2graph.torchscript as ts

    real = ts.from_torchscript
    try:  # a rebuild that got an argument wrong
        ts.from_torchscript = lambda scripted: nn.Sequential(nn.Linear(3, 2))
        with pytest.raises(ModelFileError, match="computes other outputs than the file's own model"):
            load_model(path, input_shape=(3,))
    finally:
        ts.from_torchscript = real
    assert torch.equal(load_model(path, input_shape=(3,))[0].weight, model[0].weight)


def test_state_dict_is_read_safely_and_pruning_masks_are_folded(tmp_path):
    from nn2graph.torchscript import load_state_dict

    layer = prune_all(nn.Sequential(nn.Linear(6, 4)), 0.5)
    path = tmp_path / "pruned.pt"
    torch.save(layer.state_dict(), path)
    state = load_state_dict(path)
    assert sorted(state) == ["0.bias", "0.weight"]
    assert torch.equal(state["0.weight"], layer[0].weight)
    torch.save(layer, tmp_path / "module.pt")  # a whole pickled module: not read without --trust-pickle
    with pytest.raises(ModelFileError, match="not a state dict that loads safely.*--trust-pickle"):
        load_state_dict(tmp_path / "module.pt")
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(tmp_path / "ts.pt"))
    with pytest.raises(ModelFileError, match="is a TorchScript file, not a state dict"):
        load_state_dict(tmp_path / "ts.pt")
