"""The networks of the paper with stable, documented layer names, one :class:`ModelSpec` each.

A spec holds everything a run needs about a model: its builder, input shape, data set, output
layer, pruned fractions and layer names (:data:`MODELS`, :func:`model_spec`); a new model is one
:func:`register_model` call.  Weighted layers (:func:`weighted_layers`, pruned by
:mod:`experiments.pruning` and labelled by :meth:`ModelSpec.layer_labels`) are the modules with a
handler in :mod:`nn2graph.handlers`, so a layer type registered there is pruned and labelled too.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from nn2graph.exceptions import NN2GraphError

__all__ = [
    "MODELS",
    "ModelError",
    "ModelSpec",
    "build_model",
    "layer_labels",
    "load_weights",
    "model_spec",
    "pruning_fractions",
    "register_model",
    "weighted_layers",
]

#: Han et al. (2015), Table 4: share of AlexNet's weights KEPT per layer (Caffe names).
ALEXNET_KEEP = {"conv1": 0.84, "conv2": 0.38, "conv3": 0.35, "conv4": 0.37, "conv5": 0.37,
                "fc6": 0.09, "fc7": 0.09, "fc8": 0.25}
#: torchvision module path of each Caffe AlexNet layer.
ALEXNET_CAFFE_NAMES = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6",
                       "conv4": "features.8", "conv5": "features.10", "fc6": "classifier.1",
                       "fc7": "classifier.4", "fc8": "classifier.6"}


class ModelError(NN2GraphError, ValueError):
    """Unknown model name or weights that do not fit the model."""


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
    """Return the weighted layers of ``model`` by module path, in forward order.

    A weighted layer is a module whose type has a handler in :mod:`nn2graph.handlers` (Linear
    and convolutions, and every type registered with :func:`nn2graph.handlers.register`): the
    layers that become layers of the graph are the ones that are pruned and labelled.  The
    modules inside a weighted layer are not layers of their own.

    Examples
    --------
    >>> list(weighted_layers(build_model("cnn-mnist")))
    ['conv1', 'conv2', 'fc3', 'out']
    """
    from nn2graph.handlers import handler_for

    layers: dict[str, nn.Module] = {}
    inside: str | None = None
    for name, module in model.named_modules():
        if inside is not None and (inside == "" or name.startswith(inside)):
            continue
        if handler_for(module) is not None:
            layers[name] = module
            inside = f"{name}." if name else ""
    return layers


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


def _pool_between(model: nn.Module, first: str, second: str) -> bool:
    """True when a max-pooling module sits between two modules of ``model.features``."""
    i, j = int(first.split(".")[1]), int(second.split(".")[1])
    return any(isinstance(model.features[k], nn.MaxPool2d) for k in range(i + 1, j))


def _vgg_labels(model: nn.Module, layers: Mapping[str, nn.Module]) -> dict[str, str]:
    """Caffe's names of VGG-16's layers: conv<block>_<index> (blocks end at max-pooling), fc6-8."""
    labels, block, index, previous = {}, 1, 0, None
    for path, module in layers.items():
        if isinstance(module, nn.Conv2d):
            if previous is not None and _pool_between(model, previous, path):
                block, index = block + 1, 0
            index += 1
            labels[path] = f"conv{block}_{index}"
            previous = path
    fcs = [p for p, m in layers.items() if isinstance(m, nn.Linear)]
    return labels | {p: f"fc{6 + i}" for i, p in enumerate(fcs)}


def _alexnet_labels(model: nn.Module, layers: Mapping[str, nn.Module]) -> dict[str, str]:
    caffe = {path: name for name, path in ALEXNET_CAFFE_NAMES.items()}
    return {p: caffe.get(p, p) for p in layers}


def _torchvision(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None)

    return build


@dataclass(frozen=True)
class ModelSpec:
    """Everything a run needs to know about one model; a new model is one spec.

    Attributes
    ----------
    name : str
        The name commands take (``nn2graph train NAME``).
    builder : callable
        ``builder()`` returns the module with fresh initial weights, in training mode.
    input_shape : tuple of int
        One input without the batch dimension.
    dataset : str
        ``"mnist"``, ``"cifar10"`` or ``"imagenet"``.
    output_layer : str
        Module path of the layer that feeds the softmax (left unpruned by default).
    fraction : float or None
        Pruned fraction of every weighted layer except the output layer.
    fractions : mapping of str to float, optional
        Pruned fraction per module path instead (e.g. AlexNet's published ratios).
    labels : callable, optional
        ``labels(model, weighted_layers)`` -> module path to the paper's layer name; default the
        module paths.
    """

    name: str
    builder: Callable[[], nn.Module] = field(repr=False)
    input_shape: tuple[int, ...]
    dataset: str
    output_layer: str
    fraction: float | None = None
    fractions: Mapping[str, float] | None = None
    labels: Callable[[nn.Module, Mapping[str, nn.Module]], dict[str, str]] | None = field(default=None, repr=False)

    def build(self, *, weights: str | Path | Mapping[str, torch.Tensor] | None = None) -> nn.Module:
        """The model with fresh initial weights, or ``weights`` (a state dict or its file)."""
        model = self.builder()
        if weights is not None:
            load_weights(model, weights)
        return model

    def skeleton(self) -> nn.Module:
        """The module tree on the meta device (no memory, no real initialisation)."""
        with torch.device("meta"):
            return self.builder()

    def pruning_fractions(self, fraction: float | None = None) -> dict[str, float]:
        """Pruned fraction per weighted layer: ``fraction`` (default the spec's) for every layer but
        the output layer, or the spec's per-layer ``fractions`` when no ``fraction`` is given."""
        if fraction is not None and not 0.0 <= fraction < 1.0:
            raise ModelError(f"pruning fraction must be in [0, 1), not {fraction}")
        if fraction is None and self.fractions is not None:
            return dict(self.fractions)
        s = self.fraction if fraction is None else fraction
        if s is None:
            raise ModelError(f"model {self.name!r} has no default pruning fraction: give one")
        return {layer: s for layer in weighted_layers(self.skeleton()) if layer != self.output_layer}

    def layer_labels(self, model: nn.Module | None = None) -> dict[str, str]:
        """Module path -> the paper's layer name, ``input`` included (of ``model``, default the spec's)."""
        model = self.skeleton() if model is None else model
        layers = weighted_layers(model)
        named = self.labels(model, layers) if self.labels is not None else {p: p for p in layers}
        return {"input": "input"} | {p: named.get(p, p) for p in layers}


#: The models of the paper by name, in the paper's order; :func:`register_model` adds one.
MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` (replacing a spec of the same name) and return it."""
    MODELS[spec.name] = spec
    return spec


for _spec in (
    ModelSpec("mlp", lambda: _glorot(MLP()), (784,), "mnist", "out", fraction=0.9),
    ModelSpec("cnn-mnist", lambda: _glorot(MnistCNN()), (1, 28, 28), "mnist", "out", fraction=0.7),
    ModelSpec("cnn-cifar10", lambda: _glorot(CifarCNN()), (3, 32, 32), "cifar10", "out", fraction=0.7),
    ModelSpec("alexnet", _torchvision("alexnet"), (3, 224, 224), "imagenet", "classifier.6",
              fractions={ALEXNET_CAFFE_NAMES[c]: round(1.0 - keep, 10) for c, keep in ALEXNET_KEEP.items()},
              labels=_alexnet_labels),
    ModelSpec("vgg16", _torchvision("vgg16"), (3, 224, 224), "imagenet", "classifier.6", fraction=0.3,
              labels=_vgg_labels),
):
    register_model(_spec)


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of model ``name``.

    Raises
    ------
    ModelError
        Unknown name (listing the known ones).

    Examples
    --------
    >>> spec = model_spec("cnn-mnist")
    >>> spec.input_shape, spec.dataset, spec.output_layer
    ((1, 28, 28), 'mnist', 'out')
    >>> model_spec("resnet")
    Traceback (most recent call last):
    ...
    experiments.models.ModelError: unknown model 'resnet': known are mlp, cnn-mnist, cnn-cifar10, alexnet, vgg16
    """
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}: known are {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, *, weights: str | Path | Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Build model ``name`` of :data:`MODELS` with fresh Glorot-uniform (or the given) weights.

    Parameters
    ----------
    name : str
        ``"mlp"``, ``"cnn-mnist"``, ``"cnn-cifar10"``, ``"alexnet"``, ``"vgg16"`` or a
        registered model.
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
    """
    return model_spec(name).build(weights=weights)


def pruning_fractions(name: str, fraction: float | None = None) -> dict[str, float]:
    """Return the pruned fraction per weighted layer of model ``name``.

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
    return model_spec(name).pruning_fractions(fraction)


def layer_labels(name: str, model: nn.Module | None = None) -> dict[str, str]:
    """Module path -> the paper's layer name (Caffe's for AlexNet and VGG-16), input included.

    Examples
    --------
    >>> layer_labels("cnn-mnist")
    {'input': 'input', 'conv1': 'conv1', 'conv2': 'conv2', 'fc3': 'fc3', 'out': 'out'}
    >>> labels = layer_labels("vgg16")
    >>> labels["features.0"], labels["features.28"], labels["classifier.3"]
    ('conv1_1', 'conv5_3', 'fc7')
    """
    return model_spec(name).layer_labels(model)
