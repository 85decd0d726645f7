"""nn2graph.run_folder: the lock, the run identity, stages keyed by content, safe reads."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import time

import numpy as np
import pytest
import torch

from nn2graph.result_files import PARTIAL_SUFFIX
from nn2graph.run_folder import RunFolderError, content_key, open_run, use_run


class Marker:
    """Unpickling this writes a marker file: proof that a load ran code from the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def plant(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"state": Marker(marker)}))


def hold_in_child(folder, identity, command="holder"):
    """Fork a process that opens ``folder`` and waits; return its pid once it holds the lock."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read)
            open_run(folder, identity, command=command)
            os.write(write, b"ok")
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 2) == b"ok"
    os.close(read)
    return pid


def test_second_run_is_refused_naming_the_holder(tmp_path):
    folder = tmp_path / "run"
    pid = hold_in_child(folder, {"seed": 0}, command="nn2graph train mlp --out run")
    try:
        with pytest.raises(RunFolderError) as caught:
            open_run(folder, {"seed": 0})
        message = str(caught.value)
        assert f"is in use by another run: process {pid} on {socket.gethostname()}, started 20" in message
        assert "nn2graph train mlp --out run" in message and "another output folder" in message
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # the holder died without releasing anything: its lock is stale and the folder is free again
    assert json.loads((folder / ".nn2graph.lock").read_text())["pid"] == pid
    with open_run(folder, {"seed": 0}, command="second") as run:
        assert run.resumed
        assert json.loads((folder / ".nn2graph.lock").read_text())["pid"] == os.getpid()
    assert not (folder / ".nn2graph.lock").exists()


def test_lock_within_one_process(tmp_path):
    with open_run(tmp_path / "r", {"a": 1}, command="first"):
        with pytest.raises(RunFolderError, match=rf"process {os.getpid()} .*: first"):
            open_run(tmp_path / "r", {"a": 1})
    with open_run(tmp_path / "r", {"a": 1}):
        pass


def test_other_identity_is_refused_naming_the_keys(tmp_path):
    folder = tmp_path / "run"
    with open_run(folder, {"seed": 0, "profile": {"lr": 0.1, "epochs": 2}, "model": "mlp"}) as run:
        run.write_json("metrics.json", {"seed": 0})
        run.write_text("figures/report.md", "x")
        (run.folder("analyses") / "0123abcd.json").write_text("{}")  # a cache names its own files
        run.stage("table", {"n": 1}, lambda: run.write_text("table.csv", "a\n1\n") and None)
    assert (folder / ".nn2graph-stages" / "table.json").is_file()
    (folder / "notes.txt").write_text("the user's own file")
    with pytest.raises(RunFolderError) as caught:
        open_run(folder, {"seed": 1, "profile": {"lr": 0.1, "epochs": 3}, "model": "mlp"})
    message = str(caught.value)
    assert "seed is 0 there, 1 here" in message and "profile.epochs is 2 there, 3 here" in message
    assert "model" not in message and "profile.lr" not in message
    assert "another output folder (--out)" in message and "--restart" in message
    # the refused run changed nothing
    assert json.loads((folder / "run.json").read_text())["identity"]["seed"] == 0
    # --restart deletes that run's files (only those) and starts the new one
    with open_run(folder, {"seed": 1}, restart=True) as run:
        assert not run.resumed
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["figures", "notes.txt",
                                                                                     "run.json"]
    assert not (folder / "analyses").exists() and not list((folder / ".nn2graph-stages").iterdir())
    assert json.loads((folder / "run.json").read_text())["identity"] == {"seed": 1}


def test_resume_or_refuse_an_existing_run(tmp_path):
    with open_run(tmp_path, {"seed": 0}) as run:
        assert not run.resumed
    with open_run(tmp_path, {"seed": 0}) as run:
        assert run.resumed
    with pytest.raises(RunFolderError, match="already holds this run .*pass --resume to continue it, --restart"):
        open_run(tmp_path, {"seed": 0}, resume=False)


def test_unfinished_writes_are_deleted_on_open(tmp_path):
    with open_run(tmp_path, {"seed": 0}) as run:
        run.write_json("m.json", {"a": 1})
    partial = tmp_path / "sub" / f".m.json.abc{PARTIAL_SUFFIX}"
    partial.parent.mkdir()
    partial.write_text('{"a": ')
    with open_run(tmp_path, {"seed": 0}):
        assert not partial.exists()
        assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}


def test_folders_that_cannot_be_used(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder: choose another --out"):
        open_run(tmp_path / "file", {})
    if os.geteuid() == 0:  # root writes through permissions: use a read-only file system
        folder = "/sys"
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
    with pytest.raises(RunFolderError, match=f"cannot write in {folder}: .*choose a folder you can write to"):
        open_run(folder, {})
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(RunFolderError, match="run.json: it is not a run identity file"):
        open_run(tmp_path, {})


def test_stages_are_keyed_by_content_and_their_files(tmp_path):
    calls = []

    def fit(value):
        def compute():
            calls.append(value)
            run.write_text("fit.csv", f"p\n{value}\n")
            return {"p": value}
        return compute

    degrees = np.array([1, 2, 3])
    with open_run(tmp_path, {}) as run:
        assert run.stage("fit", {"degrees": degrees, "n_boot": 5}, fit(0.5)) == {"p": 0.5}
        # the same content (key order, a copy of the array): not run again
        assert run.stage("fit", {"n_boot": 5, "degrees": degrees.copy()}, fit(0.6)) == {"p": 0.5}
        assert calls == [0.5]
        assert run.stage("fit", {"degrees": np.array([1, 2, 4]), "n_boot": 5}, fit(0.7)) == {"p": 0.7}
        assert run.stage("fit", {"degrees": np.array([1, 2, 4]), "n_boot": 5}, fit(0.8)) == {"p": 0.7}
        (tmp_path / "fit.csv").write_text("p\n0.9\n")  # its file changed: run again
        assert run.stage("fit", {"degrees": np.array([1, 2, 4]), "n_boot": 5}, fit(0.7)) == {"p": 0.7}
        (tmp_path / "fit.csv").unlink()  # its file is gone: run again
        assert run.stage("fit", {"degrees": np.array([1, 2, 4]), "n_boot": 5}, fit(0.7)) == {"p": 0.7}
        assert calls == [0.5, 0.7, 0.7, 0.7]
        assert (tmp_path / "fit.csv").read_text() == "p\n0.7\n"
        with pytest.raises(RunFolderError, match="stages do not nest"):
            run.stage("outer", 1, lambda: run.stage("inner", 2, lambda: None))
    with open_run(tmp_path, {}) as run:  # a later run reuses it
        assert run.stage("fit", {"degrees": np.array([1, 2, 4]), "n_boot": 5}, fit(0.1)) == {"p": 0.7}
    assert calls == [0.5, 0.7, 0.7, 0.7]


def test_content_key_distinguishes_types_and_values():
    keys = {content_key(v) for v in (1, 1.0, "1", True, [1], (1, 2), {"a": 1}, np.array([1]),
                                     np.array([1.0]), torch.tensor([1]), None, b"1")}
    assert len(keys) == 11  # np.array([1]) and torch.tensor([1]) hold the same int64 bytes
    assert content_key(torch.arange(4).reshape(2, 2)) != content_key(torch.arange(4))
    with pytest.raises(TypeError, match="cannot hash a object"):
        content_key(object())


def test_reads_refuse_pickles_and_garbage(tmp_path):
    marker = tmp_path / "marker"
    with open_run(tmp_path / "run", {}) as run:
        assert run.load_torch("absent.pt") is None and run.read_json("absent.json") is None
        plant(run.path / "ckpt.pt", marker)
        with pytest.raises(RunFolderError, match=r"refused .*ckpt.pt: not a checkpoint that loads as plain data"):
            run.load_torch("ckpt.pt", what="checkpoint")
        plant(run.path / "stage.json", marker)
        with pytest.raises(RunFolderError, match=r"refused .*stage.json: it is not a JSON file .*--restart"):
            run.read_json("stage.json")
        run.save_torch("good.pt", {"w": torch.ones(3)})
        (run.path / "cut.pt").write_bytes((run.path / "good.pt").read_bytes()[:100])
        with pytest.raises(RunFolderError, match="cut.pt: it is truncated or not a torch file"):
            run.load_torch("cut.pt", what="checkpoint")
    assert not marker.exists()


def test_use_run_passes_an_open_folder_through(tmp_path):
    with open_run(tmp_path, {"a": 1}) as run:
        with use_run(run, {"other": 2}) as inner:
            assert inner is run
        assert run._lock_fd is not None  # still held
    with use_run(tmp_path, {"a": 1}) as inner:
        assert inner.resumed
    with pytest.raises(RunFolderError, match="artefact name '../x' must be a relative path"):
        with open_run(tmp_path, {"a": 1}) as run:
            run.file("../x")
