"""Model files for the command line: TorchScript archives, state dicts and (trusted) pickled modules.

torch.fx cannot trace a TorchScript module, so :func:`from_torchscript` rebuilds an
equivalent eager :class:`torch.nn.Module`, from scripted (``torch.jit.script``) and traced
(``torch.jit.trace``) archives alike:

- every ``torch.nn`` layer of the archive is re-created and its weights are loaded; a scripted
  layer records its constructor arguments, a traced one only its weights and the operation it
  ran, whose arguments (stride, padding, kernel size, p, eps, ...) and the weights' shapes give
  the constructor's;
- ``nn.Sequential`` containers are rebuilt child by child;
- a module with a forward method of its own is rebuilt when that forward is a *chain*:
  each step calls a submodule or one of a few functions (relu, sigmoid, tanh, max/avg/adaptive
  pooling, dropout, (log-)softmax, flatten, ``view(x.size(0), -1)``) on the previous result.
  Anything else (residual additions, branches, other operations) is refused with a message
  naming the operation.

:func:`check_rebuilt` runs the file's model and the rebuilt one on the same random inputs and
refuses a rebuilt model that computes anything else.  :func:`load_state_dict` reads a state
dict safely (``weights_only=True``), for a built-in model (``nn2graph convert --model mlp``).
"""

from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict
from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nn2graph.exceptions import NN2GraphError

__all__ = ["ModelFileError", "check_rebuilt", "from_torchscript", "load_model", "load_state_dict"]


class ModelFileError(NN2GraphError, ValueError):
    """A model file cannot be read or rebuilt."""


class _ScriptOp(nn.Module):
    """One functional step of a rebuilt chain: ``function(x, *args)`` (fx traces through it)."""

    def __init__(self, function, args: tuple):
        super().__init__()
        self.function = function
        self.args = args

    def forward(self, x):
        return self.function(x, *self.args)


def _eval_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    return F.dropout(x, p, training=False)


#: Functional steps a chain may contain: TorchScript op or function name -> (function, constant args kept).
_CHAIN_FUNCTIONS = {
    "aten::relu": (torch.relu, 0), "aten::relu_": (torch.relu, 0), "relu": (torch.relu, 0),
    "aten::sigmoid": (torch.sigmoid, 0), "aten::tanh": (torch.tanh, 0),
    "_max_pool2d": (F.max_pool2d, 5), "max_pool2d": (F.max_pool2d, 5), "aten::max_pool2d": (F.max_pool2d, 5),
    "_max_pool1d": (F.max_pool1d, 5), "aten::max_pool1d": (F.max_pool1d, 5),
    "aten::avg_pool2d": (F.avg_pool2d, 6), "aten::avg_pool1d": (F.avg_pool1d, 5),
    "adaptive_avg_pool2d": (F.adaptive_avg_pool2d, 1), "aten::adaptive_avg_pool2d": (F.adaptive_avg_pool2d, 1),
    "aten::flatten": (torch.flatten, 2),
    "dropout": (_eval_dropout, 1), "aten::dropout": (_eval_dropout, 1),
    "log_softmax": (F.log_softmax, 1), "aten::log_softmax": (F.log_softmax, 1),
    "softmax": (F.softmax, 1), "aten::softmax": (F.softmax, 1),
}  # fmt: skip
_IGNORED_KINDS = {"prim::Constant", "prim::ListConstruct", "prim::GetAttr", "aten::size",
                  "prim::NumToTensor", "aten::Int"}  # the last two: x.size(0) in a traced forward


def _constant(value):
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        return [_constant(v) for v in node.inputs()]
    if node.kind() == "prim::Constant":
        return value.toIValue()
    return value  # a run-time value (e.g. x.size(0)); only view/reshape accept it


def _rebuild_chain(scripted: torch.jit.ScriptModule, path: str) -> nn.Module:
    """Rebuild a custom module whose forward is a chain of submodule calls and simple functions."""
    where = f"submodule '{path}'" if path else "the top module"
    graph = scripted.graph
    current = list(graph.inputs())[1:]
    if len(current) != 1:
        raise ModelFileError(f"{where} of the TorchScript file ('{scripted.original_name}') takes {len(current)} inputs, not one")
    current = current[0]
    steps: OrderedDict[str, nn.Module] = OrderedDict()

    def refuse(what: str) -> ModelFileError:
        return ModelFileError(
            f"{where} of the TorchScript file ('{scripted.original_name}') {what}; nn2graph rebuilds "
            "forward methods that are chains of submodule calls and relu/sigmoid/tanh/pooling/dropout/"
            "softmax/flatten/view steps. Pass a pickled module with --trust-pickle, or call "
            "nn2graph.to_graph on the Python model"
        )

    for node in graph.nodes():
        kind = node.kind()
        if kind in _IGNORED_KINDS:
            continue
        inputs = list(node.inputs())
        if kind == "prim::CallMethod":
            owner = inputs[0].node()
            if node.s("name") != "forward" or owner.kind() != "prim::GetAttr" or inputs[1:] != [current]:
                raise refuse(f"calls {node.s('name')} outside a chain")
            name = owner.s("name")
            steps[name] = _rebuild(getattr(scripted, name), f"{path}.{name}" if path else name)
        else:
            if kind == "prim::CallFunction":
                op, args = inputs[0].node().s("name"), inputs[1:]
            else:
                op, args = kind, inputs
            if not args or args[0] != current:
                raise refuse(f"applies '{op}' to something other than the previous step's result")
            constants = [_constant(a) for a in args[1:]]
            if op in ("aten::view", "aten::reshape"):
                shape = constants[0]
                if not (isinstance(shape, list) and len(shape) == 2 and shape[1] == -1):
                    raise refuse(f"reshapes to {shape}, not to (batch, -1)")
                function, constants = torch.flatten, [1]
            elif op in _CHAIN_FUNCTIONS:
                function, kept = _CHAIN_FUNCTIONS[op]
                constants = constants[:kept]
            else:
                raise refuse(f"uses the operation '{op}'")
            steps[f"{op.split(':')[-1].strip('_')}_{len(steps)}"] = _ScriptOp(function, tuple(constants))
        current = node.output()
    if list(graph.return_node().inputs()) != [current]:
        raise refuse("returns something other than the last step's result")
    return nn.Sequential(steps)


def _traced_arguments(scripted: torch.jit.ScriptModule, cls: type, path: str) -> dict:
    """Constructor arguments of a traced ``torch.nn`` layer, read from its graph and tensors.

    ``torch.jit.trace`` keeps a layer's parameters and the one operation its forward ran,
    not its constructor arguments.  The operation's arguments carry the names the
    constructors use (``stride``, ``padding``, ``kernel_size``, ``p``, ``eps``, ...); sizes
    come from the weights (``in_channels``, ``out_features``, ``num_features``, ...).
    """
    where = f"submodule '{path}'" if path else "the top module"
    nodes = [node for node in scripted.graph.nodes() if node.kind() not in _IGNORED_KINDS]
    if len(nodes) > 1:
        raise ModelFileError(
            f"{where} of the TorchScript file is a traced {cls.__name__} that runs "
            f"{', '.join(node.kind() for node in nodes)}; nn2graph rebuilds traced layers that run one "
            "operation (padding_mode other than 'zeros' is not supported). Script the model "
            "(torch.jit.script), pass a pickled module with --trust-pickle, or call nn2graph.to_graph "
            "on the Python model"
        )
    arguments: dict = {}
    if nodes:
        text = nodes[0].schema()
        if text == "(no schema)":
            raise ModelFileError(f"{where} of the TorchScript file is a traced {cls.__name__} that runs "
                                 f"{nodes[0].kind()}, which nn2graph cannot read arguments from; script the "
                                 "model (torch.jit.script) or pass a pickled module with --trust-pickle")
        schema = torch._C.parse_schema(text)
        for argument, value in zip(schema.arguments, nodes[0].inputs()):
            constant = _constant(value)
            if not isinstance(constant, torch._C.Value):
                arguments[argument.name] = tuple(constant) if isinstance(constant, list) else constant
    weight = getattr(scripted, "weight", None)
    if issubclass(cls, nn.modules.conv._ConvNd) and weight is not None:
        groups = int(arguments.get("groups", 1))
        transposed = issubclass(cls, nn.modules.conv._ConvTransposeNd)
        outer, inner = (weight.shape[1] * groups, weight.shape[0]) if transposed else (weight.shape[0], weight.shape[1] * groups)
        arguments.update(in_channels=inner, out_channels=outer, kernel_size=tuple(weight.shape[2:]))
    elif issubclass(cls, nn.Linear) and weight is not None:
        arguments.update(in_features=weight.shape[1], out_features=weight.shape[0])
    elif issubclass(cls, nn.modules.batchnorm._NormBase):
        stats = getattr(scripted, "running_mean", None)
        source = weight if weight is not None else stats
        if source is not None:
            arguments.update(num_features=source.shape[0], affine=weight is not None,
                             track_running_stats=stats is not None)
    return arguments


def _rebuild(scripted: torch.jit.ScriptModule, path: str) -> nn.Module:
    name = scripted.original_name
    if name == "Sequential":
        return nn.Sequential(
            OrderedDict((child, _rebuild(module, f"{path}.{child}" if path else child)) for child, module in scripted.named_children())
        )
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return _rebuild_chain(scripted, path)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    recorded = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in ("bias", "device", "dtype")]
    found = {name: getattr(scripted, name) for name in recorded if hasattr(scripted, name)}
    if recorded and not found:  # traced: the file kept the weights and the graph, not the arguments
        found = _traced_arguments(scripted, cls, path)
    kwargs = {}
    for parameter in parameters:
        if parameter.name == "bias" and isinstance(parameter.default, bool):
            kwargs["bias"] = getattr(scripted, "bias", None) is not None
        elif parameter.kind is parameter.POSITIONAL_OR_KEYWORD and parameter.name in found:
            kwargs[parameter.name] = found[parameter.name]
    missing = [p.name for p in parameters if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD
               and p.name not in kwargs]
    where = f"submodule '{path}'" if path else "the top module"
    if missing:
        raise ModelFileError(
            f"{where} of the TorchScript file is a {name} whose {', '.join(missing)} the file does not "
            "record; script the model (torch.jit.script) or pass a pickled module with --trust-pickle"
        )
    try:
        module = cls(**kwargs)
        module.load_state_dict(scripted.state_dict())
    except (TypeError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"cannot rebuild {where} ({name}) of the TorchScript file: {error}") from error
    return module


def from_torchscript(scripted: torch.jit.ScriptModule) -> nn.Module:
    """Rebuild an eager module from a TorchScript module made of ``torch.nn`` layers.

    Examples
    --------
    >>> import io, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     scripted = torch.jit.script(nn.Sequential(nn.Conv2d(1, 2, 3, padding="same"), nn.ReLU()))
    >>> model = from_torchscript(scripted)
    >>> model
    Sequential(
      (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)
      (1): ReLU()
    )
    >>> bool(torch.equal(model[0].weight, scripted[0].weight))
    True
    """
    return _rebuild(scripted, "")


def check_rebuilt(scripted: torch.jit.ScriptModule, model: nn.Module, input_shape: tuple[int, ...], *,
                  where: str = "the TorchScript file") -> None:
    """Check that ``model`` computes what ``scripted`` computes, on two random inputs.

    Raises :class:`ModelFileError` when the outputs differ (never a silently different
    graph).  An input shape that the rebuilt model does not accept is left to
    :func:`nn2graph.to_graph`, whose message names the layer.
    """
    x = torch.randn((2, *input_shape), generator=torch.Generator().manual_seed(0))
    scripted.eval()
    model.eval()
    with torch.no_grad():
        try:
            got = model(x)
        except Exception:
            return
        try:
            expected = scripted(x)
        except Exception as error:
            lines = str(error).strip().splitlines()
            raise ModelFileError(
                f"the model rebuilt from {where} accepts inputs of shape {tuple(input_shape)} but the file's "
                f"own model does not ({lines[-1] if lines else type(error).__name__}); pass a pickled module "
                "with --trust-pickle"
            ) from None
    same = isinstance(expected, torch.Tensor) and isinstance(got, torch.Tensor) and expected.shape == got.shape
    if not same or not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
        difference = f" (largest difference {float((got - expected).abs().max()):.3g})" if same else ""
        raise ModelFileError(
            f"the model rebuilt from {where} computes other outputs than the file's own model{difference}; "
            "if it was traced in training mode, trace it after model.eval(); or pass a pickled module "
            "with --trust-pickle"
        )


def load_model(path: str | PathLike, *, trust_pickle: bool = False,
               input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Load a model file: TorchScript (scripted or traced), or a pickled ``nn.Module`` when ``trust_pickle``.

    Unpickling runs arbitrary code stored in the file, so a pickled module is read only
    when the caller says that the file is trusted.  With ``input_shape``, a model rebuilt
    from TorchScript is checked against the file's own model on random inputs of that
    shape (:func:`check_rebuilt`).  The model is returned in eval mode.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file '{path}' does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated but still reads archives
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as script_error:
        if not trust_pickle:
            raise ModelFileError(
                f"'{path}' is not a TorchScript file ({type(script_error).__name__}). If it is the "
                "state_dict of a built-in model, pass --model NAME (e.g. --model mlp); if it is a whole "
                "pickled nn.Module (torch.save(model)), pass --trust-pickle -- only for files you trust, "
                "since unpickling runs arbitrary code from the file"
            ) from script_error
    else:
        model = from_torchscript(scripted)
        if input_shape is not None:
            check_rebuilt(scripted, model, input_shape, where=f"'{path}'")
        return model.eval()
    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ModelFileError(f"cannot unpickle '{path}': {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise ModelFileError(
            f"'{path}' holds a {type(model).__name__}, not an nn.Module (the state_dict of a built-in "
            "model: pass --model NAME; of another model: build it in Python and call nn2graph.to_graph)"
        )
    return model.eval()


def load_state_dict(path: str | PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict saved with ``torch.save``, safely (``torch.load(weights_only=True)``).

    The masks of ``torch.nn.utils.prune`` are folded in: ``X.weight_orig`` and
    ``X.weight_mask`` become ``X.weight = weight_orig * weight_mask``, so the state dict of a
    model pruned in place loads into the plain model.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from torch.nn.utils import prune
    >>> layer = prune.l1_unstructured(nn.Linear(4, 2), "weight", amount=0.5)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pruned.pt"
    >>> torch.save(layer.state_dict(), path)
    >>> state = load_state_dict(path)
    >>> sorted(state), int((state["weight"] == 0).sum())
    (['bias', 'weight'], 4)
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"state dict file '{path}' does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note on TorchScript archives
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad or unsafe file
        if "TorchScript" in str(error):
            raise ModelFileError(f"'{path}' is a TorchScript file, not a state dict: convert it without "
                                 "--model (give --input-shape)") from None
        first = str(error).strip().split(".")[0].splitlines()
        raise ModelFileError(
            f"'{path}' is not a state dict that loads safely with torch.load(weights_only=True) "
            f"({first[0] if first else type(error).__name__}); expected a file written by "
            "torch.save(model.state_dict(), FILE). A whole pickled module needs --trust-pickle instead "
            "of --model, and only for files you trust"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"'{path}' holds a {type(state).__name__} that is not a state dict (a mapping "
                             "of parameter names to tensors); expected torch.save(model.state_dict(), FILE)")
    folded = {}
    for key, value in state.items():
        if key.endswith("_orig") and key[:-5] + "_mask" in state:
            folded[key[:-5]] = value * state[key[:-5] + "_mask"]
        elif not (key.endswith("_mask") and key[:-5] + "_orig" in state):
            folded[key] = value
    return folded
