"""Model files for the command line: TorchScript archives and (trusted) pickled modules.

torch.fx cannot trace a TorchScript module, so :func:`from_torchscript` rebuilds an
equivalent eager :class:`torch.nn.Module`: every ``torch.nn`` layer of the archive is
re-created from its recorded constructor arguments and its weights are loaded.  This
works for (nested) :class:`torch.nn.Sequential` models made of ``torch.nn`` layers, the
common case; a scripted module with a forward method of its own is refused with a clear
message (its Python forward cannot be recovered from the archive).
"""

from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from nn2graph.exceptions import NN2GraphError


class ModelFileError(NN2GraphError, ValueError):
    """A model file cannot be read or rebuilt."""


def _rebuild(scripted: torch.jit.ScriptModule, path: str) -> nn.Module:
    name = scripted.original_name
    if name == "Sequential":
        return nn.Sequential(
            OrderedDict((child, _rebuild(module, f"{path}.{child}" if path else child)) for child, module in scripted.named_children())
        )
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        where = f"submodule '{path}'" if path else "the top module"
        raise ModelFileError(
            f"{where} of the TorchScript file is a '{name}' with a forward method of its own, which "
            "cannot be rebuilt from the archive; nn2graph's TorchScript front end reads nn.Sequential "
            "models of torch.nn layers. Save the model as an nn.Sequential, pass a pickled module with "
            "--trust-pickle, or call nn2graph.to_graph on the Python model"
        )
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
