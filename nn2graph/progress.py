"""Progress reports: a tqdm bar on a terminal, plain periodic lines anywhere else.

Every progress report of the project (training epochs, the bootstrap, ...) goes through
:func:`progress`.  When the stream (``sys.stderr`` by default) is a terminal it is a tqdm bar.
Otherwise (a log file, a pipe, CI) it writes whole lines, never a carriage return: one when it
starts, one each time another tenth of the work is done (at most one every
``min_seconds``), one after ``every_seconds`` without a line, and one at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

__all__ = ["PlainProgress", "progress", "write"]


def _stream_is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class PlainProgress:
    """Progress as plain lines, for logs: what :func:`progress` returns off a terminal.

    It has the part of tqdm's interface the project uses: iteration, ``update``,
    ``set_postfix``, ``close`` and use as a context manager.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with PlainProgress(total=4, desc="bootstrap", unit="set", stream=out) as bar:
    ...     for _ in range(4):
    ...         bar.update()
    >>> print(out.getvalue().replace("\\r", "<CR>"), end="")
    bootstrap: 0/4 sets
    bootstrap: 4/4 sets (100%) in 0 s
    """

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", stream: TextIO | None = None, every_fraction: float = 0.1,
                 every_seconds: float = 30.0, min_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.stream = stream
        self.every_fraction, self.every_seconds, self.min_seconds = every_fraction, every_seconds, min_seconds
        self.clock = clock
        self.n = 0
        self.postfix = ""
        self._began = self._last_line = clock()
        self._next_mark = every_fraction
        self._closed = False
        self._line(f"{self.n}/{self.total} {self._units()}" if self.total else "started")

    def _units(self) -> str:
        if self.unit == "it" or (self.total or self.n) == 1:
            return self.unit
        return self.unit + ("es" if self.unit.endswith(("s", "ch", "sh", "x")) else "s")

    def _line(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        prefix = f"{self.desc}: " if self.desc else ""
        suffix = f", {self.postfix}" if self.postfix else ""
        print(prefix + text + suffix, file=stream, flush=True)
        self._last_line = self.clock()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more steps done; write a line when one is due."""
        self.n += n
        now = self.clock()
        since_line = now - self._last_line
        fraction = self.n / self.total if self.total else 0.0
        due_mark = self.total and fraction >= self._next_mark and since_line >= self.min_seconds
        if (due_mark or since_line >= self.every_seconds) and not (self.total and self.n >= self.total):
            elapsed = now - self._began
            if self.total:
                left = elapsed * (self.total - self.n) / max(self.n, 1)
                self._line(f"{self.n}/{self.total} {self._units()} ({100 * fraction:.0f}%), "
                           f"{_duration(elapsed)} elapsed, about {_duration(left)} left")
            else:
                self._line(f"{self.n} {self._units()}, {_duration(elapsed)} elapsed")
        while self.total and self._next_mark <= fraction:
            self._next_mark += self.every_fraction

    def set_postfix(self, **values: Any) -> None:
        """Values shown at the end of the next line (tqdm's ``set_postfix``)."""
        self.postfix = ", ".join(f"{key} {value}" for key, value in values.items())

    def close(self) -> None:
        """Write the final line (once)."""
        if self._closed:
            return
        self._closed = True
        took = _duration(self.clock() - self._began)
        if self.total:
            self._line(f"{self.n}/{self.total} {self._units()} ({100 * self.n / self.total:.0f}%) in {took}")
        else:
            self._line(f"{self.n} {self._units()} in {took}")

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("this progress report was made without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Silent:
    """A disabled progress report: iterates and counts, writes nothing."""

    def __init__(self, iterable: Iterable | None) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator:
        return iter(self.iterable if self.iterable is not None else ())

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool = True, leave: bool = False, stream: TextIO | None = None, **plain: Any):
    """Report progress: a tqdm bar on a terminal, :class:`PlainProgress` lines elsewhere.

    Parameters
    ----------
    iterable : iterable, optional
        Iterate over it with progress (like ``tqdm(iterable)``); without it, call ``update``.
    total : int, optional
        Number of steps (default ``len(iterable)`` when it has one).
    desc, unit : str
        What is counted, e.g. ``desc="bootstrap", unit="set"``.
    enabled : bool, default True
        ``False`` reports nothing (for ``--quiet``).
    leave : bool, default False
        Keep the tqdm bar on the screen when done (terminal only).
    stream : file, optional
        Where to write (default ``sys.stderr``); a bar is drawn only if it is a terminal.
    **plain
        ``every_fraction``, ``every_seconds``, ``min_seconds``, ``clock`` for the plain lines.

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()                        # not a terminal: plain lines
    >>> sum(progress(range(3), desc="epoch 1/1", unit="batch", stream=log))
    3
    >>> print(log.getvalue(), end="")
    epoch 1/1: 0/3 batches
    epoch 1/1: 3/3 batches (100%) in 0 s
    >>> sum(progress(range(3), enabled=False))     # --quiet
    3
    """
    if not enabled:
        return _Silent(iterable)
    out = stream if stream is not None else sys.stderr
    if _stream_is_terminal(out):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=out, dynamic_ncols=True)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, stream=stream, **plain)


def write(message: str, *, file: TextIO | None = None) -> None:
    """Print a whole line without breaking a bar that is on the screen (``tqdm.write``)."""
    from tqdm import tqdm

    tqdm.write(message, file=file)
