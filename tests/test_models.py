"""Tests of experiments.models: shapes, layer names, initialisation, weights files."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from experiments.models import (
    MODEL_NAMES,
    ModelError,
    build_model,
    model_dataset,
    model_input_shape,
    output_layer,
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
    assert output_layer(name) == LAYERS[name][-1]
    x = torch.rand(2, *model_input_shape(name))
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
        model_input_shape("lenet")


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
    assert {model_dataset(n) for n in MODEL_NAMES} == {"mnist", "cifar10", "imagenet"}
    assert model_input_shape("vgg16") == (3, 224, 224)
