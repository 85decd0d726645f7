"""Tests of experiments.models: shapes, layer names, initialisation, weights files."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from experiments.models import (
    MODELS,
    ModelError,
    build_model,
    model_spec,
    pruning_fractions,
    weighted_layers,
)

LAYERS = {
    "mlp": ["fc1", "fc2", "out"],
    "cnn-mnist": ["conv1", "conv2", "fc3", "out"],
    "cnn-cifar10": ["conv1", "conv2", "conv3", "conv4", "fc5", "out"],
    "alexnet": ["features.0", "features.3", "features.6", "features.8", "features.10",
                "classifier.1", "classifier.4", "classifier.6"],
}


@pytest.mark.parametrize("name", ["mlp", "cnn-mnist", "cnn-cifar10", "alexnet"])
def test_output_shape_and_layer_names(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    assert list(weighted_layers(model)) == LAYERS[name]
    assert model_spec(name).output_layer == LAYERS[name][-1]
    x = torch.rand(2, *model_spec(name).input_shape)
    assert tuple(model(x).shape) == (2, 1000 if name == "alexnet" else 10)


def test_architecture_sizes():
    shapes = {k: tuple(m.weight.shape) for k, m in weighted_layers(build_model("mlp")).items()}
    assert shapes == {"fc1": (1024, 784), "fc2": (1024, 1024), "out": (10, 1024)}
    cnn = weighted_layers(build_model("cnn-mnist"))
    assert tuple(cnn["conv1"].weight.shape) == (32, 1, 5, 5)
    assert tuple(cnn["conv2"].weight.shape) == (32, 32, 5, 5)
    assert tuple(cnn["fc3"].weight.shape) == (256, 512)   # 32 maps of 4 x 4 after two pools
    assert tuple(cnn["out"].weight.shape) == (10, 256)
    cifar = weighted_layers(build_model("cnn-cifar10"))
    # Keras cifar10_cnn: 'same' padding on the first conv of each block only
    assert [cifar[f"conv{i}"].padding for i in range(1, 5)] == [(1, 1), (0, 0), (1, 1), (0, 0)]
    assert tuple(cifar["fc5"].weight.shape) == (512, 64 * 6 * 6)


def test_mlp_accepts_images_and_vectors():
    model = build_model("mlp").eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model(x), model(x.reshape(3, 784)))


def test_dropout_rates():
    rates = {n: m.p for n, m in build_model("mlp").named_modules() if isinstance(m, nn.Dropout)}
    assert rates == {"drop_in": 0.2, "drop1": 0.5, "drop2": 0.5}
    rates = {n: m.p for n, m in build_model("cnn-mnist").named_modules() if isinstance(m, nn.Dropout)}
    assert rates == {"drop2": 0.5, "drop3": 0.5}
    rates = {n: m.p for n, m in build_model("cnn-cifar10").named_modules() if isinstance(m, nn.Dropout)}
    assert rates == {"drop2": 0.25, "drop4": 0.25, "drop5": 0.5}


def test_glorot_uniform_init():
    torch.manual_seed(1)
    for name, module in weighted_layers(build_model("cnn-mnist")).items():
        w = module.weight.detach()
        fan_in = w[0].numel()
        fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() == 4 else 1)
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert float(w.abs().max()) <= bound, name
        # uniform on [-b, b]: standard deviation b / sqrt(3)
        assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.1), name
        assert torch.count_nonzero(module.bias) == 0


def test_weights_file_roundtrip(tmp_path):
    model = build_model("cnn-mnist")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    again = build_model("cnn-mnist", weights=tmp_path / "w.pt")
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_weights_errors(tmp_path):
    with pytest.raises(ModelError, match=r"weights file .*nope.pt does not exist"):
        build_model("mlp", weights=tmp_path / "nope.pt")
    torch.save(build_model("cnn-mnist").state_dict(), tmp_path / "cnn.pt")
    with pytest.raises(ModelError, match=r"do not fit MLP: missing keys \['fc1.bias'.*unexpected keys \['conv1.bias'"):
        build_model("mlp", weights=tmp_path / "cnn.pt")
    state = build_model("mlp").state_dict()
    state["out.weight"] = torch.zeros(5, 1024)
    with pytest.raises(ModelError, match=r"mis-shaped .*out.weight \(5, 1024\) vs \(10, 1024\)"):
        build_model("mlp", weights=state)
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot read weights file"):
        build_model("mlp", weights=tmp_path / "bad.pt")


def test_unknown_model():
    with pytest.raises(ModelError, match="unknown model 'lenet': known are mlp, cnn-mnist, cnn-cifar10, alexnet, vgg16"):
        model_spec("lenet")
    with pytest.raises(ModelError, match="unknown model 'lenet'"):
        build_model("lenet")


def test_pruning_fractions():
    assert pruning_fractions("cnn-mnist") == {"conv1": 0.7, "conv2": 0.7, "fc3": 0.7}
    assert pruning_fractions("cnn-cifar10", 0.5) == {k: 0.5 for k in LAYERS["cnn-cifar10"][:-1]}
    vgg = pruning_fractions("vgg16")
    assert len(vgg) == 15 and set(vgg.values()) == {0.3} and "classifier.6" not in vgg
    alexnet = pruning_fractions("alexnet")
    keep = [0.84, 0.38, 0.35, 0.37, 0.37, 0.09, 0.09, 0.25]
    assert list(alexnet) == LAYERS["alexnet"]
    assert [round(1 - s, 10) for s in alexnet.values()] == keep
    with pytest.raises(ModelError, match=r"must be in \[0, 1\)"):
        pruning_fractions("mlp", 1.0)


def test_datasets_and_shapes_cover_all_models():
    assert list(MODELS) == ["mlp", "cnn-mnist", "cnn-cifar10", "alexnet", "vgg16"]
    assert {spec.dataset for spec in MODELS.values()} == {"mnist", "cifar10", "imagenet"}
    assert model_spec("vgg16").input_shape == (3, 224, 224)
    assert {n: s.output_layer for n, s in MODELS.items()} == {
        "mlp": "out", "cnn-mnist": "out", "cnn-cifar10": "out", "alexnet": "classifier.6", "vgg16": "classifier.6"}


# ------------------------------------------------------------------ the registry and custom layers


class ScaledLinear(nn.Module):
    """A weighted layer type unknown to torch's pruning helpers and to the built-in handlers."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.inner = nn.Linear(1, 1)  # a module inside a weighted layer is not a layer of its own

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x @ self.weight.t()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.relu = nn.ReLU()
        self.scaled = ScaledLinear(8, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.scaled(self.relu(self.fc1(x))))


@pytest.fixture
def registered(monkeypatch):
    """ScaledLinear registered with nn2graph.handlers.register, and a spec of Net; both undone after."""
    from nn2graph import handlers
    from experiments.models import ModelSpec, register_model

    monkeypatch.setattr(handlers, "HANDLERS", dict(handlers.HANDLERS))
    monkeypatch.setattr("experiments.models.MODELS", dict(MODELS))

    @handlers.register(ScaledLinear, spatial=False, n_units=lambda m: m.weight.shape[0])
    def scaled(module, weight, groups, n_groups, in_shape, out_shape):
        yield from handlers.linear_connections(module, weight, groups, n_groups, in_shape, out_shape)

    return register_model(ModelSpec("net", Net, (6,), "mnist", "head", fraction=0.5,
                                    labels=lambda model, layers: {"scaled": "custom"}))


def test_a_registered_layer_is_pruned_and_labelled(registered):
    from experiments.models import layer_labels
    from experiments.pruning import prune_layers, sparsity_report

    torch.manual_seed(0)
    model = build_model("net")
    assert list(weighted_layers(model)) == ["fc1", "scaled", "head"]  # not scaled.inner
    assert pruning_fractions("net") == {"fc1": 0.5, "scaled": 0.5}
    assert layer_labels("net", model) == {"input": "input", "fc1": "fc1", "scaled": "custom", "head": "head"}
    weight = model.scaled.weight.detach().clone()
    masks = prune_layers(model, pruning_fractions("net"))
    # the 20 smallest of the 40 |w| of the custom layer are gone, found independently by sorting
    order = weight.abs().flatten().argsort()
    expected = torch.ones(40, dtype=torch.bool)
    expected[order[:20]] = False
    assert torch.equal(masks["scaled"].flatten(), expected)
    assert torch.equal(model.scaled.weight, weight * expected.view(5, 8))
    rows = {r.layer: r for r in sparsity_report(model).rows}
    assert (rows["scaled"].type, rows["scaled"].weights, rows["scaled"].nonzero) == ("ScaledLinear", 40, 20)


def test_a_module_without_handler_is_not_prunable():
    from experiments.pruning import PruningError, prune_layers

    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    with pytest.raises(PruningError, match=r"layer '1' is a BatchNorm1d, which has no handler in nn2graph.handlers"):
        prune_layers(model, {"1": 0.5})
