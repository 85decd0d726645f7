"""The networks of the paper (METHOD.md §1) with stable, documented layer names.

``to_graph`` names layers by module path, so these names are part of the API:

================  ===================================================  ==================  =========
name              weighted layers (module paths), in order             input shape         dataset
================  ===================================================  ==================  =========
``mlp``           ``fc1`` (784->1024), ``fc2`` (1024->1024), ``out``     ``(784,)``          mnist
``cnn-mnist``     ``conv1`` (32C5), ``conv2`` (32C5), ``fc3`` (256),    ``(1, 28, 28)``     mnist
                  ``out``
``cnn-cifar10``   ``conv1`` (32C3 same), ``conv2`` (32C3), ``conv3``    ``(3, 32, 32)``     cifar10
                  (64C3 same), ``conv4`` (64C3), ``fc5`` (512), ``out``
``alexnet``       torchvision: ``features.0|3|6|8|10`` = Caffe conv1-5, ``(3, 224, 224)``    imagenet
                  ``classifier.1|4|6`` = fc6, fc7, fc8
``vgg16``         torchvision: 13 ``features.N`` convs,                 ``(3, 224, 224)``   imagenet
                  ``classifier.0|3|6``
================  ===================================================  ==================  =========

``out`` (``classifier.6`` for the torchvision models) is the output layer: it feeds the
softmax, which lives in the loss (the models return logits).  The MLP starts with a
``flatten`` module, so it accepts both ``(N, 784)`` and ``(N, 1, 28, 28)`` inputs.

Our three models follow the Lasagne MNIST example and Keras' ``cifar10_cnn``: ReLU,
Glorot-uniform weights, zero biases; MLP dropout 0.2 on the input and 0.5 after each hidden
layer; MNIST CNN dropout 0.5 before each fully connected layer; CIFAR CNN dropout 0.25 after
each pooling and 0.5 before the output.  AlexNet and VGG-16 come from torchvision with random
weights; their ImageNet weights cannot be downloaded here: pass ``weights=FILE`` (a
``state_dict`` saved with ``torch.save``, e.g. the file torchvision downloads elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from nn2graph.exceptions import NN2GraphError

__all__ = [
    "MODEL_NAMES",
    "ModelError",
    "build_model",
    "load_weights",
    "model_dataset",
    "model_input_shape",
    "output_layer",
    "pruning_fractions",
    "weighted_layers",
]

#: The models :func:`build_model` knows, in METHOD.md's order.
MODEL_NAMES = ("mlp", "cnn-mnist", "cnn-cifar10", "alexnet", "vgg16")

_INPUT_SHAPES = {"mlp": (784,), "cnn-mnist": (1, 28, 28), "cnn-cifar10": (3, 32, 32),
                 "alexnet": (3, 224, 224), "vgg16": (3, 224, 224)}
_DATASETS = {"mlp": "mnist", "cnn-mnist": "mnist", "cnn-cifar10": "cifar10",
             "alexnet": "imagenet", "vgg16": "imagenet"}
_OUTPUT = {"mlp": "out", "cnn-mnist": "out", "cnn-cifar10": "out", "alexnet": "classifier.6",
           "vgg16": "classifier.6"}
_UNIFORM_FRACTION = {"mlp": 0.9, "cnn-mnist": 0.7, "cnn-cifar10": 0.7, "vgg16": 0.3}
#: Han et al. (2015), Table 4: share of AlexNet's weights KEPT per layer (Caffe names).
ALEXNET_KEEP = {"conv1": 0.84, "conv2": 0.38, "conv3": 0.35, "conv4": 0.37, "conv5": 0.37,
                "fc6": 0.09, "fc7": 0.09, "fc8": 0.25}
#: torchvision module path of each Caffe AlexNet layer.
ALEXNET_CAFFE_NAMES = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6",
                       "conv4": "features.8", "conv5": "features.10", "fc6": "classifier.1",
                       "fc7": "classifier.4", "fc8": "classifier.6"}


class ModelError(NN2GraphError, ValueError):
    """Unknown model name or weights that do not fit the model."""


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ModelError(f"unknown model {name!r}: known are {', '.join(MODEL_NAMES)}")


class MLP(nn.Module):
    """input-1024FC-1024FC-10 with dropout 0.2 on the input and 0.5 after hidden layers."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.drop_in = nn.Dropout(0.2)
        self.fc1 = nn.Linear(784, 1024)
        self.relu1 = nn.ReLU()
        self.drop1 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(1024, 1024)
        self.relu2 = nn.ReLU()
        self.drop2 = nn.Dropout(0.5)
        self.out = nn.Linear(1024, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop_in(self.flatten(x))
        x = self.drop1(self.relu1(self.fc1(x)))
        x = self.drop2(self.relu2(self.fc2(x)))
        return self.out(x)


class MnistCNN(nn.Module):
    """input-32C5-MP2-32C5-MP2-256FC-10 (Lasagne's ``build_cnn``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 32, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.drop2 = nn.Dropout(0.5)
        self.fc3 = nn.Linear(32 * 4 * 4, 256)
        self.relu3 = nn.ReLU()
        self.drop3 = nn.Dropout(0.5)
        self.out = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.drop2(self.flatten(x))
        x = self.drop3(self.relu3(self.fc3(x)))
        return self.out(x)


class CifarCNN(nn.Module):
    """input-32C3-32C3-MP2-64C3-64C3-MP2-512FC-10 (Keras ``cifar10_cnn``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 32, 3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.drop2 = nn.Dropout(0.25)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(64, 64, 3)
        self.relu4 = nn.ReLU()
        self.pool4 = nn.MaxPool2d(2)
        self.drop4 = nn.Dropout(0.25)
        self.flatten = nn.Flatten()
        self.fc5 = nn.Linear(64 * 6 * 6, 512)
        self.relu5 = nn.ReLU()
        self.drop5 = nn.Dropout(0.5)
        self.out = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        x = self.drop2(self.pool2(x))
        x = self.relu4(self.conv4(self.relu3(self.conv3(x))))
        x = self.drop4(self.pool4(x))
        x = self.drop5(self.relu5(self.fc5(self.flatten(x))))
        return self.out(x)


def _glorot(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def weighted_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Return the Linear and Conv2d modules of ``model`` by module path, in forward order.

    Examples
    --------
    >>> list(weighted_layers(build_model("cnn-mnist")))
    ['conv1', 'conv2', 'fc3', 'out']
    """
    return {name: module for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d))}


def load_weights(model: nn.Module, weights: str | Path | Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a state dict (a mapping or a file written by ``torch.save``) into ``model``.

    Raises
    ------
    ModelError
        If the file is missing or unreadable, or its keys or shapes do not match the model
        (the message names the missing, unexpected and mis-shaped keys).
    """
    if not isinstance(weights, Mapping):
        path = Path(weights)
        if not path.is_file():
            raise ModelError(f"weights file {path} does not exist (expected a state_dict saved "
                             "with torch.save)")
        try:
            weights = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a bad file
            raise ModelError(f"cannot read weights file {path}: {error}") from error
        if not isinstance(weights, Mapping):
            raise ModelError(f"weights file {path} holds a {type(weights).__name__}, expected a "
                             "state_dict (a mapping of parameter names to tensors)")
        source = str(path)
    else:
        source = "the given state dict"
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    shapes = sorted(f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}" for k in own
                    if k in weights and tuple(weights[k].shape) != tuple(own[k].shape))
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if shapes:
            parts.append(f"mis-shaped (file vs model) {shapes}")
        raise ModelError(f"weights in {source} do not fit {type(model).__name__}: "
                         + "; ".join(parts))
    model.load_state_dict(weights)
    return model


def build_model(name: str, *, weights: str | Path | Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Build one of :data:`MODEL_NAMES` with fresh Glorot-uniform (or the given) weights.

    Parameters
    ----------
    name : str
        ``"mlp"``, ``"cnn-mnist"``, ``"cnn-cifar10"``, ``"alexnet"`` or ``"vgg16"``.
    weights : str, Path, mapping or None
        A state dict or a file holding one (``torch.save(model.state_dict(), FILE)``).
        AlexNet and VGG-16 get random torchvision initial weights without it.

    Returns
    -------
    torch.nn.Module
        The model in training mode; it returns logits (the softmax is in the loss).

    Raises
    ------
    ModelError
        Unknown name (listing the known ones) or weights that do not fit.

    Examples
    --------
    >>> model = build_model("mlp")
    >>> tuple(model(torch.zeros(2, 784)).shape)
    (2, 10)
    >>> build_model("resnet")
    Traceback (most recent call last):
    ...
    experiments.models.ModelError: unknown model 'resnet': known are mlp, cnn-mnist, cnn-cifar10, alexnet, vgg16
    """
    _check_name(name)
    if name == "mlp":
        model: nn.Module = _glorot(MLP())
    elif name == "cnn-mnist":
        model = _glorot(MnistCNN())
    elif name == "cnn-cifar10":
        model = _glorot(CifarCNN())
    else:
        import torchvision

        model = getattr(torchvision.models, name)(weights=None)
    if weights is not None:
        load_weights(model, weights)
    return model


def model_input_shape(name: str) -> tuple[int, ...]:
    """Return the input shape of model ``name`` without the batch dimension.

    Examples
    --------
    >>> model_input_shape("cnn-mnist")
    (1, 28, 28)
    """
    _check_name(name)
    return _INPUT_SHAPES[name]


def model_dataset(name: str) -> str:
    """Return the dataset model ``name`` is trained on: ``mnist``, ``cifar10`` or ``imagenet``.

    Examples
    --------
    >>> model_dataset("mlp")
    'mnist'
    """
    _check_name(name)
    return _DATASETS[name]


def output_layer(name: str) -> str:
    """Return the module path of the output layer of model ``name`` (the one feeding softmax).

    Examples
    --------
    >>> output_layer("vgg16")
    'classifier.6'
    """
    _check_name(name)
    return _OUTPUT[name]


def pruning_fractions(name: str, fraction: float | None = None) -> dict[str, float]:
    """Return METHOD.md's pruned fraction per weighted layer of model ``name``.

    Every weighted layer except the output layer gets ``fraction`` (default: the paper's 0.9
    for the MLP, 0.7 for the CNNs, 0.3 for VGG-16).  AlexNet without ``fraction`` gets
    Han et al.'s per-layer ratios (1 - keep), which include fc8, the output layer, as in
    Deep Compression's sparse AlexNet.

    Examples
    --------
    >>> pruning_fractions("mlp")
    {'fc1': 0.9, 'fc2': 0.9}
    >>> round(pruning_fractions("alexnet")["features.0"], 2)
    0.16
    """
    _check_name(name)
    if fraction is not None and not 0.0 <= fraction < 1.0:
        raise ModelError(f"pruning fraction must be in [0, 1), not {fraction}")
    if name == "alexnet" and fraction is None:
        return {ALEXNET_CAFFE_NAMES[caffe]: round(1.0 - keep, 10) for caffe, keep in ALEXNET_KEEP.items()}
    s = _UNIFORM_FRACTION[name] if fraction is None else fraction
    layers = weighted_layers(_skeleton(name))
    return {layer: s for layer in layers if layer != _OUTPUT[name]}


def _skeleton(name: str) -> nn.Module:
    """The module tree of ``name`` on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        if name in ("alexnet", "vgg16"):
            import torchvision

            return getattr(torchvision.models, name)(weights=None)
        return {"mlp": MLP, "cnn-mnist": MnistCNN, "cnn-cifar10": CifarCNN}[name]()
