"""Model files for the command line: TorchScript archives and (trusted) pickled modules.

torch.fx cannot trace a TorchScript module, so :func:`from_torchscript` rebuilds an
equivalent eager :class:`torch.nn.Module`:

- every ``torch.nn`` layer of the archive is re-created from the constructor arguments the
  archive records, and its weights are loaded;
- ``nn.Sequential`` containers are rebuilt child by child;
- a module with a forward method of its own is rebuilt when that forward is a *chain*:
  each step calls a submodule or one of a few functions (relu, sigmoid, tanh, max/avg/adaptive
  pooling, dropout, (log-)softmax, flatten, ``view(x.size(0), -1)``) on the previous result.
  Anything else (residual additions, branches, other operations) is refused with a message
  naming the operation.
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
_IGNORED_KINDS = {"prim::Constant", "prim::ListConstruct", "prim::GetAttr", "aten::size"}


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


def _rebuild(scripted: torch.jit.ScriptModule, path: str) -> nn.Module:
    name = scripted.original_name
    if name == "Sequential":
        return nn.Sequential(
            OrderedDict((child, _rebuild(module, f"{path}.{child}" if path else child)) for child, module in scripted.named_children())
        )
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return _rebuild_chain(scripted, path)
    kwargs = {}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.name == "bias" and isinstance(parameter.default, bool):
            kwargs["bias"] = getattr(scripted, "bias", None) is not None
        elif parameter.kind is parameter.POSITIONAL_OR_KEYWORD and hasattr(scripted, parameter.name):
            kwargs[parameter.name] = getattr(scripted, parameter.name)
    module = cls(**kwargs)
    module.load_state_dict(scripted.state_dict())
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


def load_model(path: str | PathLike, *, trust_pickle: bool = False) -> nn.Module:
    """Load a model file: TorchScript, or a pickled ``nn.Module`` when ``trust_pickle``.

    Unpickling runs arbitrary code stored in the file, so a pickled module is read only
    when the caller says that the file is trusted.
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
                f"'{path}' is not a TorchScript file ({type(script_error).__name__}). If it is a whole "
                "pickled nn.Module (torch.save(model)), pass --trust-pickle -- only for files you trust, "
                "since unpickling runs arbitrary code from the file"
            ) from script_error
    else:
        return from_torchscript(scripted)
    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ModelFileError(f"cannot unpickle '{path}': {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise ModelFileError(
            f"'{path}' holds a {type(model).__name__}, not an nn.Module (a state_dict needs the model's "
            "class: build the model in Python and call nn2graph.to_graph)"
        )
    return model
