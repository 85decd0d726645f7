"""Options shared by several commands, defined once so that they read and default the same."""

from __future__ import annotations

import argparse

__all__ = ["add_jobs_argument", "positive_int"]


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
