"""Options and argument types shared by the commands, defined once so that they read and default the same.

Files to read and write are checked when parsed.

A bad path is reported by argparse at once (``error: argument --json: ...``, exit status 2),
before any work, instead of after minutes of fitting.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_bootstrap_arguments", "add_jobs_argument", "add_out_argument", "add_restart_argument", "input_file",
           "output_file", "positive_int"]


def input_file(text: str) -> Path:
    """An existing file to read (not a folder).

    Examples
    --------
    >>> input_file("/")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '/' is a folder, not a file
    """
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a folder, not a file")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"'{text}': no such file")
    return path


def output_file(example: str) -> Callable[[str], Path]:
    """An argument type for a file to write: not a folder, in a folder that exists and is writable.

    ``example`` is a file name the message suggests, e.g. ``"fits.json"``.

    Examples
    --------
    >>> check = output_file("fits.json")
    >>> check("/")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '/' is a folder: give a file name, e.g. /fits.json
    >>> check("/no/such/folder/fits.json")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '/no/such/folder/fits.json': the folder '/no/such/folder' does not exist; create it first
    """

    def check(text: str) -> Path:
        path = Path(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"'{text}' is a folder: give a file name, e.g. {path / example}")
        folder = path.parent
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist; create it first"
            raise argparse.ArgumentTypeError(f"'{text}': the folder '{folder}' {what}")
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise argparse.ArgumentTypeError(f"'{text}': no permission to write there")
        return path

    check.__name__ = "output file"
    return check



def positive_int(text: str) -> int:
    """Parse a positive integer option value.

    Examples
    --------
    >>> positive_int("4")
    4
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--jobs N``: bootstrap worker processes, default every core (``args.jobs`` is None).

    The bootstrap's numbers do not depend on it.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_jobs_argument(p)
    >>> p.parse_args([]).jobs, p.parse_args(["--jobs", "2"]).jobs
    (None, 2)
    """
    parser.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                        help="worker processes for the bootstraps (default: every core; the numbers do not "
                        "depend on it)")


def add_out_argument(parser: argparse.ArgumentParser, help: str, *, required: bool = True) -> None:
    """Add ``--out DIR``, the run folder (``args.out``, a Path; None when not required and not given).

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_out_argument(p, "output folder", required=False)
    >>> p.parse_args([]).out, p.parse_args(["--out", "runs/x"]).out
    (None, PosixPath('runs/x'))
    """
    parser.add_argument("--out", type=Path, required=required, default=None, metavar="DIR", help=help)


def add_restart_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--restart``: delete the files of the run the --out folder holds and start over."""
    parser.add_argument("--restart", action="store_true",
                        help="delete the files of the run in --out and start over (a folder holding a run with "
                        "other settings is refused otherwise)")


def add_bootstrap_arguments(parser: argparse.ArgumentParser, *, skip: bool = True, seed_default: int | None = 0,
                            seed_help: str = "seed of the bootstraps (default 0)") -> None:
    """Add ``--n-boot N`` (bootstrap sets per p-value, default 2500; with ``skip``, 0 skips the
    p-values) and ``--seed S``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_bootstrap_arguments(p)
    >>> args = p.parse_args(["--n-boot", "0"])
    >>> args.n_boot, args.seed
    (0, 0)
    """
    parser.add_argument("--n-boot", type=_non_negative_int if skip else positive_int, default=2500, metavar="N",
                        help="bootstrap sets per p-value (default 2500, p to about +-0.01"
                        + ("; 0 skips p-values)" if skip else ")"))
    parser.add_argument("--seed", type=int, default=seed_default, metavar="S", help=seed_help)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value
