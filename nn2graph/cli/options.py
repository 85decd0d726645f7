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

__all__ = ["add_jobs_argument", "input_file", "output_file", "positive_int"]


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
