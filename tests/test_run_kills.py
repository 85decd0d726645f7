"""SIGKILL every kind of run at every stage boundary, in the middle of an artefact write; the rerun
must end with the files of an uninterrupted run (timings aside), and no partial file left.

A run is killed in a forked child whose atomic writer (:func:`nn2graph.result_files._commit`)
is wrapped: at the chosen write it cuts the temporary file to half its length and sends itself
SIGKILL -- the state a kill in the middle of that write leaves, and the state of a kill at the
stage boundary before it (the temporary file aside).

``train`` is killed once at every write of an uninterrupted run, each time in a fresh folder
that is then resumed.  The longer runs are killed in a chain: each rerun is killed at its first
write of a file no earlier run was cut in (and at the required writes between stages), until
a rerun finishes; every file of the run must have been cut at least once.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

import nn2graph.result_files as result_files
from nn2graph.cli import main
from nn2graph.result_files import PARTIAL_SUFFIX
from tests.test_data import write_mnist

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_BOOKKEEPING = {"started", "command", "resumed_from_epoch"}  # not results: when and how a run started


def _killed_child(argv: list[str], folder: Path, skip: set[tuple[str, int]]) -> tuple[tuple[str, int] | None, list]:
    """Run ``main(argv)`` in a child killed in the middle of its first write not in ``skip``.

    Returns the write it was killed at (None: it finished) and the writes it made.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 1
        try:
            os.close(read)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            torch.set_num_threads(1)
            counts: dict[str, int] = {}
            commit = result_files._commit

            def cutting_commit(handle, tmp, path):
                name = Path(path).resolve().relative_to(folder.resolve()).as_posix()
                counts[name] = counts.get(name, 0) + 1
                here = (name, counts[name])
                os.write(write, (json.dumps(here) + "\n").encode())
                if here not in skip:
                    handle.flush()
                    os.truncate(tmp, os.path.getsize(tmp) // 2)
                    os.write(write, b"KILL\n")
                    os.kill(os.getpid(), signal.SIGKILL)
                commit(handle, tmp, path)

            result_files._commit = cutting_commit
            code = main(argv)
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    lines = b"".join(chunks).decode().splitlines()
    writes = [tuple(json.loads(line)) for line in lines if line != "KILL"]
    killed = "KILL" in lines
    assert killed == os.WIFSIGNALED(status), f"child ended with status {status}, output {lines}"
    if not killed:
        assert os.WEXITSTATUS(status) == 0, f"the run failed: {writes}"
    return (writes[-1] if killed else None), writes


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if "seconds" not in str(k) and k not in _BOOKKEEPING}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return (str(value.dtype), tuple(value.shape), value.numpy().tobytes())
    return value


def _contents(folder: Path) -> dict[str, object]:
    """Every file of a run folder by name, with timings and start details left out."""
    out = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_dir() or name in (".nn2graph.files", ".nn2graph.lock"):
            continue
        assert not name.endswith(PARTIAL_SUFFIX), f"partial file {name} left"
        if path.suffix == ".json":
            out[name] = _plain(json.loads(path.read_text()))
        elif path.suffix == ".pt":
            out[name] = _plain(torch.load(path, weights_only=True))
        elif path.suffix == ".md":
            out[name] = [line for line in path.read_text().splitlines() if "Seconds" not in line]
        else:
            out[name] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist(folder, n_train=60, n_test=20)
    return folder


def _reference(argv_of, folder):
    torch.set_num_threads(1)
    assert main(argv_of(folder)) == 0
    return _contents(folder)


class _Skip:
    """The writes a chained run passes: those of files already cut, except the required ones."""

    def __init__(self, order, required):
        self.names = {name for name, _ in order}
        self.pending = set(required) - set(order)

    def __contains__(self, write):
        return write[0] in self.names and write not in self.pending


def _chain(argv_of, folder, required=()) -> list[tuple[str, int]]:
    order: list[tuple[str, int]] = []
    while True:
        at, _ = _killed_child(argv_of(folder), folder, _Skip(order, required))
        if at is None:
            return order
        assert at not in order
        order.append(at)


def test_train_killed_at_every_write_resumes_to_the_same_files(tmp_path, mnist):
    def argv_of(out):
        return ["train", "mlp", "--data-dir", str(mnist), "--epochs", "2", "--retrain-epochs", "2",
                "--limit-train", "40", "--out", str(out), "--seed", "3", "--quiet", "--threads", "1", "--resume"]

    reference = _reference(argv_of, tmp_path / "reference")
    _, writes = _killed_child(argv_of(tmp_path / "all"), tmp_path / "all", _AllWrites())
    assert [name for name, _ in writes] == ["run.json", "dense-checkpoint.pt", "dense-checkpoint.pt", "dense.pt",
                                            "sparse-checkpoint.pt", "sparse-checkpoint.pt", "sparse.pt",
                                            "metrics.json"]
    for i, point in enumerate(writes):
        folder = tmp_path / f"kill-{i}"
        at, _ = _killed_child(argv_of(folder), folder, set(writes[:i]))
        assert at == point
        assert main(argv_of(folder)) == 0
        assert _contents(folder) == reference, point


class _AllWrites(set):
    """A skip set holding every write: the child runs to the end and reports them all."""

    def __contains__(self, item):
        return True


def _check_chain(argv_of, tmp_path, required=()):
    reference = _reference(argv_of, tmp_path / "reference")
    order = _chain(argv_of, tmp_path / "killed", required)
    assert {name for name, _ in order} == set(reference)  # every file was cut once at least
    assert set(required) <= set(order)
    assert _contents(tmp_path / "killed") == reference
    return order


def test_reproduce_static_killed_at_every_stage(tmp_path, mnist):
    def argv_of(out):
        return ["reproduce", "mlp-mnist", "--data-dir", str(mnist), "--out", str(out), "--epochs", "2",
                "--retrain-epochs", "1", "--limit-train", "40", "--n-boot", "2", "--jobs", "1", "--quiet",
                "--threads", "1"]

    _check_chain(argv_of, tmp_path, required=[("metrics.json", 3)])  # between the fits of two layers


def test_reproduce_continual_killed_at_every_stage(tmp_path, mnist):
    def argv_of(out):
        return ["reproduce", "continual", "--P", "8", "--data-dir", str(mnist), "--out", str(out), "--epochs", "2",
                "--retrain-epochs", "1", "--limit-train", "40", "--n-boot", "2", "--jobs", "1", "--seed", "2", "--quiet",
                "--threads", "1"]

    # in the middle of task B's dense phase: its model comes from a-sparse.pt on the rerun, with
    # its parameters in another order than in the run that wrote the checkpoint
    _check_chain(argv_of, tmp_path, required=[("b-dense-checkpoint.pt", 2)])


def test_celegans_development_killed_at_every_stage(tmp_path):
    def argv_of(out):
        return ["reproduce", "celegans-development", "--out", str(out), "--stages", "7-8", "--n-boot", "2", "--jobs", "1"]

    _check_chain(argv_of, tmp_path)
