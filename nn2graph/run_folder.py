"""One output folder per run: a lock, the run's identity, content-keyed stages, safe reads.

Every command that writes a folder of results (``train``, ``reproduce ...``, and any later
one) opens it with :func:`open_run`, which gives a :class:`RunFolder`:

- **Lock.** The folder is locked (``.nn2graph.lock``, an ``flock`` held while the run lives);
  a second run on the same folder is refused with a message naming the holder (process id,
  host, start time, command).  The operating system releases the lock of a process that dies,
  even by ``SIGKILL``, so a stale lock never blocks a later run.
- **Identity.** ``run.json`` holds the settings that determine the results (the *identity*).
  Reopening the folder with another identity is refused, naming the keys that differ; pass
  ``restart=True`` (``--restart``) to delete that run's files and start over, or use another
  folder.  With the same identity the run resumes: what is finished is reused.
- **Atomic artefacts.** Every file is written through :mod:`nn2graph.result_files`
  (a unique temporary name in the folder, flush, fsync, rename), so a kill never leaves half a
  file; the temporary files of killed writes are deleted when the folder is opened again.
  :meth:`RunFolder.file` names an artefact and :meth:`RunFolder.folder` a cache folder (both
  recorded, so that a restart deletes them).
- **Stages keyed by content.** :meth:`RunFolder.stage` runs a stage only when the folder holds
  no finished run of it with inputs of the same content (:func:`content_key`) and the very files
  it wrote then (their SHA-256); otherwise it returns the stored result and writes nothing.
- **Safe reads.** :meth:`RunFolder.read_json` and :meth:`RunFolder.load_torch` refuse a file
  that is not what it should be (torch files load with ``weights_only=True`` only, so nothing
  in the folder can run code), naming the file.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp()) / "run"
>>> with open_run(folder, {"seed": 0}, command="example") as run:
...     _ = run.write_json("metrics.json", {"accuracy": 0.5})
>>> open_run(folder, {"seed": 1}, command="example")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
nn2graph.run_folder.RunFolderError: .../run holds a run with other settings: seed is 0 there, 1 here. ...
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nn2graph.exceptions import NN2GraphError
from nn2graph.result_files import (
    PARTIAL_SUFFIX,
    ResultFileError,
    json_ready,
    load_torch,
    read_json,
    save_torch,
    write_csv_rows,
    write_json,
    write_text,
)

__all__ = ["IDENTITY_FILE", "LockHolder", "RunFolder", "RunFolderError", "content_key", "differences", "file_key",
           "open_run", "use_run"]

#: The file holding a folder's run identity.
IDENTITY_FILE = "run.json"
_LOCK_FILE = ".nn2graph.lock"
_FILES_LOG = ".nn2graph.files"
_STAGES = ".nn2graph-stages"


class RunFolderError(NN2GraphError, ValueError):
    """An output folder that cannot be used: in use, another run's, not writable, or holding a
    file that is refused."""


def content_key(value: Any) -> str:
    """SHA-256 (hex) of ``value``'s content: mappings (key order ignored), sequences, numpy
    arrays and torch tensors (dtype, shape and bytes), numbers, strings, bytes, ``None``.

    Examples
    --------
    >>> content_key({"a": 1, "b": [1.5, "x"]}) == content_key({"b": [1.5, "x"], "a": 1})
    True
    >>> content_key(np.arange(3)) == content_key(np.arange(3)), content_key(np.arange(3)) == content_key(np.arange(4))
    (True, False)
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    if isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value, key=str):
            _feed(digest, str(key))
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif isinstance(value, np.ndarray) or type(value).__module__.startswith("torch"):
        array = value.detach().cpu().contiguous().numpy() if hasattr(value, "detach") else np.ascontiguousarray(value)
        digest.update(f"array {array.dtype.str} {array.shape}".encode())
        digest.update(memoryview(array.reshape(-1)).cast("B") if array.size else b"")
    elif isinstance(value, bytes):
        digest.update(b"bytes %d:" % len(value) + value)
    elif isinstance(value, (str, bool, int, float, type(None), np.generic)):
        item = value.item() if isinstance(value, np.generic) else value
        text = f"{type(item).__name__}:{item!r}"
        digest.update(f"{len(text)}:{text}".encode())
    else:
        raise TypeError(f"content_key cannot hash a {type(value).__name__}: pass plain data, arrays or tensors")


def file_key(path: str | os.PathLike, *, what: str = "file") -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks (large files do not fill memory).

    Raises
    ------
    RunFolderError
        The file cannot be read (named).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> file_key(path)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise RunFolderError(f"cannot read {what} {path}: {error.strerror or error}; check the path and its "
                             "permissions") from None
    return digest.hexdigest()


@dataclass(frozen=True)
class LockHolder:
    """Who holds a folder's lock, as written into the lock file."""

    pid: int | None
    host: str
    started: str
    command: str

    def describe(self) -> str:
        """One phrase naming the holder."""
        if self.pid is None:
            return "a run whose details are being written (try again in a moment)"
        return f"process {self.pid} on {self.host}, started {self.started}: {self.command}"


def _read_holder(path: Path) -> LockHolder:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return LockHolder(None, "", "", "")
    return LockHolder(info.get("pid"), str(info.get("host", "?")), str(info.get("started", "?")),
                      str(info.get("command", "?")))


def _default_command() -> str:
    argv = list(sys.argv) or ["python"]
    argv[0] = "nn2graph" if argv[0].endswith(("__main__.py", "nn2graph")) else Path(argv[0]).name
    return shlex.join(argv)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flat(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix or "identity": value}


def differences(old: Any, new: Any) -> list[str]:
    """Phrases naming the (dotted) keys whose values differ between two nested dicts.

    Examples
    --------
    >>> differences({"seed": 0, "profile": {"lr": 0.1}}, {"seed": 1, "profile": {"lr": 0.1}})
    ['seed is 0 there, 1 here']
    """
    a, b = _flat(json_ready(old)), _flat(json_ready(new))
    parts = []
    for key in [*b, *(k for k in a if k not in b)]:
        if key not in a:
            parts.append(f"{key} is not set there, {json.dumps(b[key])} here")
        elif key not in b:
            parts.append(f"{key} is {json.dumps(a[key])} there, not set here")
        elif a[key] != b[key]:
            parts.append(f"{key} is {json.dumps(a[key])} there, {json.dumps(b[key])} here")
    return parts


class RunFolder:
    """An output folder held by one run (see the module docstring); made by :func:`open_run`.

    Attributes
    ----------
    path : Path
        The folder.
    identity : dict
        The settings that determine the results (plain JSON data), as stored in ``run.json``.
    resumed : bool
        True when the folder already held this run (finished or not) when it was opened.
    """

    def __init__(self, path: Path, identity: dict, resumed: bool, lock_fd: int) -> None:
        self.path = path
        self.identity = identity
        self.resumed = resumed
        self._lock_fd: int | None = lock_fd
        self._files = self._read_files_log()
        self._stage_files: list[str] | None = None  # the artefacts of the stage running now

    def _read_files_log(self) -> set[str]:
        log = self.path / _FILES_LOG
        if not log.exists():
            return set()
        try:
            names = log.read_bytes().decode("utf-8").split("\n")[:-1]
        except (OSError, UnicodeDecodeError):
            names = None
        if names is None or not all(name and not name.startswith("/") and ".." not in name.split("/")
                                    and "\x00" not in name for name in names):
            raise RunFolderError(f"refused {log}: it is not the list of artefacts nn2graph keeps; delete it (a "
                                 "restart then leaves the files of the previous run in place)")
        return set(names)

    # ---------------------------------------------------------------- life cycle

    def close(self) -> None:
        """Release the lock (the folder and its files stay)."""
        if self._lock_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path / _LOCK_FILE)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ---------------------------------------------------------------- artefacts

    def file(self, name: str | os.PathLike) -> Path:
        """The path of artefact ``name`` (relative to the folder; sub-folders are created),
        recorded so that a restart deletes it."""
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise RunFolderError(f"artefact name {str(name)!r} must be a relative path inside the run folder")
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self._record(relative.as_posix())
        if self._stage_files is not None and relative.as_posix() not in self._stage_files:
            self._stage_files.append(relative.as_posix())
        return path

    def folder(self, name: str | os.PathLike) -> Path:
        """The path of cache folder ``name`` (relative to the folder; created), recorded so that a
        restart deletes it with everything in it: for caches whose files are named by their
        content (``analyses/``)."""
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise RunFolderError(f"folder name {str(name)!r} must be a relative path inside the run folder")
        path = self.path / relative
        path.mkdir(parents=True, exist_ok=True)
        self._record(relative.as_posix() + "/")
        return path

    def _record(self, key: str) -> None:
        if key not in self._files:
            with open(self.path / _FILES_LOG, "a", encoding="utf-8") as log:
                log.write(key + "\n")
            self._files.add(key)

    def write_json(self, name: str, payload: Any) -> Path:
        """Write strict JSON atomically (:func:`nn2graph.result_files.write_json`)."""
        return write_json(self.file(name), payload)

    def write_csv(self, name: str, rows: Sequence[Mapping[str, Any]]) -> Path:
        """Write CSV rows atomically (:func:`nn2graph.result_files.write_csv_rows`)."""
        return write_csv_rows(self.file(name), rows)

    def write_text(self, name: str, text: str) -> Path:
        """Write text atomically (:func:`nn2graph.result_files.write_text`)."""
        return write_text(self.file(name), text)

    def save_torch(self, name: str, obj: Any) -> Path:
        """Save plain data as a torch file atomically (:func:`nn2graph.result_files.save_torch`)."""
        return save_torch(self.file(name), obj)

    # ---------------------------------------------------------------- reads

    def _fix(self) -> str:
        return f"delete it, or pass --restart to start the run in {self.path} over"

    def read_json(self, name: str, *, what: str = "JSON file") -> Any | None:
        """The JSON in ``name``, or ``None`` when there is no such file; refuses anything else."""
        path = self.path / name
        if not path.exists():
            return None
        try:
            return read_json(path, what=what, fix=self._fix())
        except ResultFileError as error:
            raise RunFolderError(str(error)) from None

    def load_torch(self, name: str, *, what: str = "torch file") -> Any | None:
        """The plain data in torch file ``name`` (``weights_only=True``), or ``None`` when there
        is no such file; refuses anything else, naming the file."""
        path = self.path / name
        if not path.exists():
            return None
        try:
            return load_torch(path, what=what, fix=self._fix())
        except ResultFileError as error:
            raise RunFolderError(str(error)) from None

    # ---------------------------------------------------------------- stages

    def _stage_file(self, stage: str) -> str:
        if not stage or "/" in stage or stage.startswith("."):
            raise RunFolderError(f"stage name {stage!r} must be a plain file name")
        return f"{_STAGES}/{stage}.json"

    def stage(self, name: str, inputs: Any, compute: Callable[[], Any]) -> Any:
        """Run stage ``name`` (``compute()``, which writes its artefacts through this folder and
        returns plain JSON data) unless it already ran here on inputs of the same content.

        The stage's record (in ``.nn2graph-stages/``, written after the stage) holds the
        :func:`content_key` of ``inputs``, the result and the SHA-256 of every artefact the stage
        named (:meth:`file`).  When the key is the same and every one of those files is there
        with the same bytes, the stored result is returned and nothing runs; otherwise (new
        inputs, a file changed or missing, a run killed in the stage) the stage runs again.
        Either way the result comes back as stored (JSON data: tuples as lists, numpy numbers
        as Python ones; non-finite floats, stored as ``"inf"``, ``"-inf"``, ``"nan"``, as floats).

        Examples
        --------
        >>> import tempfile
        >>> calls = []
        >>> def draw():
        ...     calls.append(1)
        ...     run.write_text("figure.txt", "drawn")
        ...     return {"points": 3}
        >>> with open_run(Path(tempfile.mkdtemp()), {}, command="example") as run:
        ...     first = run.stage("figure", {"data": [1, 2, 3]}, draw)
        ...     again = run.stage("figure", {"data": [1, 2, 3]}, draw)
        >>> first, again, len(calls)
        ({'points': 3}, {'points': 3}, 1)
        """
        record_name = self._stage_file(name)
        key = content_key(inputs)
        saved = self.read_json(record_name, what="stage record")
        if isinstance(saved, dict) and saved.get("key") == key and isinstance(saved.get("files"), dict) \
                and all(self._unchanged(file, sha) for file, sha in saved["files"].items()):
            return _non_finite(saved.get("result"))
        if self._stage_files is not None:
            raise RunFolderError(f"stage {name!r} was started inside another stage; stages do not nest")
        self._stage_files = []
        try:
            result = json_ready(compute())
            files = {file: file_key(self.path / file) for file in self._stage_files}
        finally:
            self._stage_files = None
        self.write_json(record_name, {"stage": name, "key": key, "files": files, "result": result})
        return _non_finite(result)

    def _unchanged(self, name: Any, sha: Any) -> bool:
        path = self.path / str(name)
        return isinstance(name, str) and ".." not in Path(name).parts and path.is_file() and file_key(path) == sha

    # ---------------------------------------------------------------- opening

    def _remove_previous(self) -> None:
        for name in sorted(self._files, reverse=True):
            if name.endswith("/"):  # a cache folder (folder()) and everything in it
                shutil.rmtree(self.path / name, ignore_errors=True)
                continue
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                (self.path / name).unlink()
        for path in ((self.path / _STAGES).glob("*.json") if (self.path / _STAGES).is_dir() else ()):
            path.unlink()
        for name in (IDENTITY_FILE, _FILES_LOG):
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        self._files = set()


def _non_finite(value: Any) -> Any:
    """JSON data with the strings :func:`~nn2graph.result_files.json_ready` writes for non-finite
    floats turned back into floats."""
    if isinstance(value, dict):
        return {k: _non_finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_non_finite(v) for v in value]
    return float(value) if value in ("inf", "-inf", "nan") else value


def _lock(path: Path, command: str) -> int:
    lock = path / _LOCK_FILE
    for _ in range(100):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise RunFolderError(f"cannot write in {path}: {error.strerror or error}; choose a folder you can "
                                 "write to (--out)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _read_holder(lock)
            raise RunFolderError(f"{path} is in use by another run: {holder.describe()}. Wait for it to end, "
                                 "or choose another output folder (--out)") from None
        try:  # the holder we waited for may have deleted the lock file as it ended
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - a hundred holders ending while we took the lock
        raise RunFolderError(f"could not lock {path}: its lock file keeps changing")
    info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": _now(),
                       "command": command}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, info, 0)
    os.fsync(fd)
    return fd


def open_run(path: str | os.PathLike, identity: Mapping[str, Any], *, command: str | None = None,
             resume: bool = True, restart: bool = False) -> RunFolder:
    """Lock output folder ``path`` (created) for a run with ``identity``; return its :class:`RunFolder`.

    Parameters
    ----------
    path : path
        The output folder.
    identity : mapping
        The settings that determine the run's results (JSON-ready values: numbers, strings,
        lists, dicts; hash data with :func:`content_key`).
    command : str, optional
        How the run was started, shown to a run refused because this one holds the folder
        (default: the command line).
    resume : bool
        Continue the run this folder holds if it has the same identity (default).  With
        ``False`` a folder that already holds a run is refused (a run that starts fresh
        must not mix its files with another's).
    restart : bool
        Delete the files of the run this folder holds (those it wrote) and start over.

    Raises
    ------
    RunFolderError
        ``path`` is a file or not writable; another live run holds it (named); it holds a run
        with another identity (the keys that differ are named) or, with ``resume=False``, any
        run; its ``run.json`` is not what nn2graph writes.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"output folder {path} is a file, not a folder: choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot create output folder {path}: {error.strerror or error}; choose a folder "
                             "you can write to (--out)") from None
    identity = json_ready(dict(identity))
    command = command or _default_command()
    fd = _lock(path, command)
    try:
        run = RunFolder(path, identity, False, fd)
        for partial in path.rglob(f"*{PARTIAL_SUFFIX}"):  # writes that a killed run never finished
            partial.unlink()
        saved = run.read_json(IDENTITY_FILE, what="run identity file")
        if restart:
            run._remove_previous()
        elif saved is not None:
            if not isinstance(saved, dict) or "identity" not in saved:
                raise RunFolderError(f"refused {path / IDENTITY_FILE}: it is not a run identity file written by "
                                     f"nn2graph; {run._fix()}")
            if saved["identity"] != identity:
                raise RunFolderError(
                    f"{path} holds a run with other settings: {'; '.join(differences(saved['identity'], identity))}. "
                    "Use another output folder (--out), or pass --restart to delete that run's files and start "
                    "this one")
            if not resume:
                raise RunFolderError(f"{path} already holds this run (started {saved.get('started', '?')}): pass "
                                     "--resume to continue it, --restart to start it over, or choose another --out")
            run.resumed = True
        if not run.resumed:
            run.write_json(IDENTITY_FILE, {"identity": identity, "command": command, "started": _now()})
        return run
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path / _LOCK_FILE)
        os.close(fd)
        raise


@contextlib.contextmanager
def use_run(out: str | os.PathLike | RunFolder, identity: Mapping[str, Any], **options: Any) -> Iterator[RunFolder]:
    """The :class:`RunFolder` ``out`` itself, or one opened on path ``out`` with ``identity`` and
    ``options`` (:func:`open_run`) and closed at the end: for functions that run alone or as a
    stage of a bigger run."""
    if isinstance(out, RunFolder):
        yield out
        return
    with open_run(out, identity, **options) as run:
        yield run
