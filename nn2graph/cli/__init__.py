"""Command-line interface: ``nn2graph <command> ...``.

Each command lives in a module of its own that defines ``add_parser(subparsers)``;
the parser it adds sets ``run`` (a function taking the parsed arguments and returning
an exit code).  Heavy imports (torch, matplotlib) stay inside the ``run`` functions so
that ``nn2graph --help`` answers at once.

:func:`main` never ends in a raw traceback.  Bad input (an :class:`NN2GraphError`, or a file
that cannot be opened) prints one line naming the thing and what was expected, and exits
with status 2.  Anything else is a bug in nn2graph: one line says so, the traceback goes to a
file whose name it prints, and the exit status is 3 (``--debug`` prints the traceback
instead).  Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence

from nn2graph.exceptions import NN2GraphError

#: Modules that contribute a sub-command, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "nn2graph.cli.demo",
    "nn2graph.cli.reproduce",
    "nn2graph.cli.train",
    "nn2graph.cli.convert",
    "nn2graph.cli.degrees",
    "nn2graph.cli.fit",
    "nn2graph.cli.sweep",
    "nn2graph.cli.attachment",
    "nn2graph.cli.compare",
    "nn2graph.cli.connectomes",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="nn2graph",
        description="Deep networks as graphs: degrees, truncated power laws, preferential attachment.",
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    _add_debug(subparsers)
    return parser


def _add_debug(subparsers: argparse._SubParsersAction) -> None:
    """Give every (sub-)command ``--debug`` too, so that it may come after the command."""
    for command in subparsers.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="print the traceback of an internal error")
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_debug(action)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings on the command line: one line, without the source line that raised it."""
    return f"nn2graph: warning: {message}\n"


def _file_being_read(error: BaseException) -> str | None:
    """The name of the innermost text file open in the frames of ``error``'s traceback."""
    tb, name = error.__traceback__, None
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, io.TextIOWrapper) and isinstance(value.name, str):
                name = value.name
        tb = tb.tb_next
    return name


def _write_traceback(command: str) -> str:
    """Write the current exception's traceback to a new file; return its path."""
    fd, path = tempfile.mkstemp(prefix=f"nn2graph-{command}-{time.strftime('%Y%m%d-%H%M%S')}-",
                                suffix=".traceback.txt")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"nn2graph {command}: argv {sys.argv!r}\n")
        traceback.print_exc(file=handle)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code.

    0: done; 1: done, but some part could not be computed (the output says which);
    2: bad input (the message says what to change); 3: an internal error (a bug);
    130: interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    prefix = f"nn2graph {args.command}"
    formatwarning = warnings.formatwarning
    if not debug:
        warnings.formatwarning = _one_line_warning
    try:
        return _run(args, prefix, debug)
    finally:
        warnings.formatwarning = formatwarning


def _bad_input(error: Exception) -> str | None:
    """The one-line message for an error that the input caused, or None for a bug."""
    if isinstance(error, NN2GraphError):
        return str(error)
    if isinstance(error, UnicodeDecodeError):
        name = _file_being_read(error)
        return (f"{repr(name) if name else 'a file given'} is not a text file (byte "
                f"{error.object[error.start:error.start + 1]!r} at position {error.start} is not "
                f"{error.encoding}); expected a CSV or GraphML text file")
    if isinstance(error, csv.Error):
        name = _file_being_read(error)
        return f"{repr(name) if name else 'a file given'} is not a readable CSV file ({error})"
    if isinstance(error, OSError) and error.filename is not None and not isinstance(error, BrokenPipeError):
        # a file the user named that cannot be read or written
        what = f"'{error.filename}'" + (f" -> '{error.filename2}'" if error.filename2 else "")
        return f"{what}: {error.strerror or error}; check the path and its permissions"
    return None


def _run(args: argparse.Namespace, prefix: str, debug: bool) -> int:
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nn2graph ... | head` closed the pipe: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if debug:
            raise
        message = _bad_input(error)
        if message is not None:
            print(f"{prefix}: error: {message}", file=sys.stderr)
            return 2
        path = _write_traceback(args.command)
        print(f"{prefix}: internal error (a bug in nn2graph, please report it): {type(error).__name__}: "
              f"{error}\nThe traceback is in {path}; rerun with --debug to print it.", file=sys.stderr)
        return 3
