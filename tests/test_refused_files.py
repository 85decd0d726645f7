"""A malicious pickle (its ``__reduce__`` writes a marker file) placed as every file a run reads
from its folder: the marker never appears, and the run says what it refused.

Which files a rerun reads is observed, not listed: an audit hook records every file the rerun
of a finished run opens in its folder.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import torch

from nn2graph.cli import main
from tests.test_data import write_mnist

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_OPENED: list[str] = []
_WATCH: list[Path] = []


def _audit(event, args):
    if event == "open" and _WATCH and isinstance(args[0], (str, os.PathLike)):
        _OPENED.append(os.fspath(args[0]))


sys.addaudithook(_audit)


class Marker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _files_read(argv: list[str], folder: Path) -> list[str]:
    """The files in ``folder`` that running ``argv`` opens (the run must succeed)."""
    _OPENED.clear()
    _WATCH.append(folder)
    try:
        assert main(argv) == 0
    finally:
        _WATCH.clear()
    root = folder.resolve()
    names = set()
    for opened in _OPENED:
        path = Path(opened).resolve()
        if path.is_relative_to(root) and path.is_file():
            names.add(path.relative_to(root).as_posix())
    return sorted(names - {".nn2graph.lock"})  # never read: a new holder overwrites it


def _check_refusals(argv_of, done: Path, tmp_path: Path, capsys, expected: set[str]) -> None:
    read = _files_read(argv_of(done), done)
    assert expected <= set(read), read
    capsys.readouterr()
    marker = tmp_path / "marker"
    for name in read:
        folder = tmp_path / f"planted-{name.replace('/', '_')}"
        shutil.copytree(done, folder)
        planted = pickle.dumps({"model": Marker(marker), "identity": Marker(marker)})
        (folder / name).write_bytes(planted)
        code = main(argv_of(folder))
        err = capsys.readouterr().err
        if code == 0:  # an artefact written anew before it is read, a cache entry ignored and recomputed, or
            # a stage's file (a figure, a CSV) whose bytes differ from its record: the stage runs again
            assert name not in expected and not name.endswith(".pt"), name
            assert (folder / name).read_bytes() != planted, name
        else:
            assert code == 2, name
            assert "error: refused " in err and name.split("/")[-1] in err, (name, err)
            assert "Traceback" not in err
        assert not marker.exists(), name


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist(folder, n_train=60, n_test=20)
    return folder


def test_train_refuses_every_planted_file(tmp_path, mnist, capsys):
    def argv_of(out):
        return ["train", "mlp", "--data-dir", str(mnist), "--epochs", "1", "--retrain-epochs", "1",
                "--limit-train", "40", "--out", str(out), "--quiet", "--threads", "1", "--resume"]

    torch.set_num_threads(1)
    assert main(argv_of(tmp_path / "done")) == 0
    _check_refusals(argv_of, tmp_path / "done", tmp_path, capsys,
                    {"run.json", ".nn2graph.files", "dense-checkpoint.pt", "sparse-checkpoint.pt"})


def test_reproduce_static_refuses_every_planted_file(tmp_path, mnist, capsys):
    def argv_of(out):
        return ["reproduce", "mlp-mnist", "--data-dir", str(mnist), "--out", str(out), "--epochs", "1",
                "--retrain-epochs", "1", "--limit-train", "40", "--n-boot", "2", "--jobs", "1", "--quiet",
                "--threads", "1"]

    assert main(argv_of(tmp_path / "done")) == 0
    _check_refusals(argv_of, tmp_path / "done", tmp_path, capsys,
                    {"run.json", "metrics.json", "dense-checkpoint.pt", "sparse-checkpoint.pt"})


def test_reproduce_continual_refuses_every_planted_file(tmp_path, mnist, capsys):
    def argv_of(out):
        return ["reproduce", "continual", "--P", "8", "--data-dir", str(mnist), "--out", str(out), "--epochs", "1",
                "--retrain-epochs", "1", "--limit-train", "40", "--n-boot", "2", "--jobs", "1", "--quiet", "--threads", "1"]

    assert main(argv_of(tmp_path / "done")) == 0
    _check_refusals(argv_of, tmp_path / "done", tmp_path, capsys,
                    {"run.json", "a-dense.pt", "a-sparse.pt", "b-dense.pt", "b-sparse.pt"})


def test_celegans_development_refuses_every_planted_file(tmp_path, capsys):
    def argv_of(out):
        return ["reproduce", "celegans-development", "--out", str(out), "--stages", "7-8", "--n-boot", "2", "--jobs", "1"]

    assert main(argv_of(tmp_path / "done")) == 0
    _check_refusals(argv_of, tmp_path / "done", tmp_path, capsys,
                    {"run.json", ".nn2graph.files"})
