"""Every command of README.md and docs/*.md runs as written.

The commands are the lines of the ```bash and ```sh blocks (```text blocks are synopses).
They run in document order, one temporary folder per page, through ``nn2graph.cli.main``
(in this process: each run saves the interpreter's start). Runs that would train for
minutes or bootstrap thousands of sets get tiny limits through their own documented options
(:data:`TINY`); the input files a page assumes the reader has are made in the folder first
(:func:`_inputs`); the few commands that cannot run here are listed with the reason
(:data:`NOT_RUN`).  A command that another page already ran with the same arguments (up to
``--quiet`` and ``--out``) is not run twice.
"""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import pytest
import torch

from nn2graph.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Commands that do not run in the test suite, and why (kept short and honest).
NOT_RUN = {
    "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/nn2graph demo":
        "installs the package into a new environment (minutes); CI runs the second install command",
    "python3 -m venv .venv && .venv/bin/pip install '.[test,connectomes]' && .venv/bin/pip install --no-deps "
    "'cect==0.3.5' && .venv/bin/python -m pytest": "CI's own command (.ci/run): it runs this suite",
    "pip install 'nn2graph[connectomes]' && pip install --no-deps 'cect==0.3.5'": "installs packages",
    "nn2graph reproduce alexnet --weights alexnet-owt-7be5be79.pth --out runs/alexnet":
        "needs torchvision's ImageNet weights file (233 MB download); tests/test_reproduce.py runs the target "
        "on a narrow random model",
    "nn2graph reproduce vgg16 --weights vgg16-397923af.pth --out runs/vgg16":
        "needs torchvision's ImageNet weights file (528 MB download); tests/test_reproduce.py runs the target "
        "on a narrow random model",
}

_TRAINING = {"--epochs": "1", "--retrain-epochs": "1", "--limit-train": "100"}
#: Documented options set on each command to keep the suite fast: (command words) -> options.
TINY = {
    ("demo",): {**_TRAINING, "--n-boot": "2", "--jobs": "1"},
    ("train",): _TRAINING,
    ("reproduce", "mlp-mnist"): {**_TRAINING, "--n-boot": "2", "--jobs": "1"},
    ("reproduce", "cnn-mnist"): {**_TRAINING, "--n-boot": "2", "--jobs": "1"},
    ("reproduce", "cnn-cifar10"): {**_TRAINING, "--limit-train": "20", "--n-boot": "2", "--jobs": "1"},
    ("reproduce", "continual"): {**_TRAINING, "--n-boot": "2"},
    ("reproduce", "celegans-development"): {"--n-boot": "2", "--stages": "1-2"},
    ("reproduce", "dst"): {"--limit-train": "100", "--epochs": "2", "--batch-size": "20", "--delta-t": "3",
                           "--n-boot": "2", "--jobs": "1"},
    ("compare",): {"--n-boot": "2"},
    ("fit",): {"--n-boot": "2", "--jobs": "1"},
}


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```(?:bash|sh)\n(.*?)^```", text, flags=re.M | re.S)


def page_commands(page: Path) -> list[str]:
    """The commands of ``page``: continuation lines joined, comments and blank lines dropped."""
    commands = []
    for block in _blocks(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            command = " ".join(re.sub(r"(^|\s)#.*$", "", line).split())
            if command:
                commands.append(command)
    return commands


def _tiny(words: list[str]) -> list[str]:
    key = next((k for k in TINY if tuple(words[1:1 + len(k)]) == k), None)
    if key is None:
        return words
    words = list(words)
    for option, value in TINY[key].items():
        if option in words:
            words[words.index(option) + 1] = value
        else:
            words += [option, value]
    return words


def _inputs(folder: Path) -> None:
    """The files the pages assume the reader has, made small."""
    from analysis.growth import random_layered_graph, simulate_growth
    from experiments.models import build_model, pruning_fractions
    from experiments.pruning import make_pruning_permanent, prune_layers
    from nn2graph import to_graph
    from nn2graph.degree_csv import write_degree_csv
    from tests.test_data import write_cifar, write_mnist

    write_mnist(folder / "mnist", n_train=130, n_test=20)  # --data-dir mnist/: the four IDX files
    write_cifar(folder / "DATA" / "cifar-10-batches-py", n=30)
    torch.manual_seed(0)
    mlp = build_model("mlp")
    prune_layers(mlp, pruning_fractions("mlp"))
    make_pruning_permanent(mlp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(mlp.eval()).save(str(folder / "model.pt"))  # a TorchScript file
    write_degree_csv(folder / "mlp-sparse-degrees.csv", to_graph(mlp, (784,)).degrees())
    write_degree_csv(folder / "degrees.csv", to_graph(mlp, (784,)).degrees())
    (folder / "nn2graph-demo").mkdir()  # what `nn2graph demo` wrote
    write_degree_csv(folder / "nn2graph-demo" / "degrees-fc1.csv", {"fc1": to_graph(mlp, (784,)).degrees()["fc1"]})
    g0 = random_layered_graph([60, 40, 30, 5], n_edges=[400, 300, 100], seed=0)
    g0.write_graphml(str(folder / "t0.graphml"))
    simulate_growth(g0, n_new=[300, 200], seed=1).write_graphml(str(folder / "t1.graphml"))


_RAN: set[tuple[str, ...]] = set()


def _key(words: list[str]) -> tuple[str, ...]:
    """The arguments that determine what a command computes: without --quiet and --out DIR."""
    key, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "--out":
            skip = True
        elif word != "--quiet":
            key.append(word)
    return tuple(key)


def test_every_command_is_run_or_listed():
    found = {command for page in PAGES for command in page_commands(page)}
    assert set(NOT_RUN) <= found, f"NOT_RUN lists commands the pages no longer have: {set(NOT_RUN) - found}"
    nn2graph = [c for c in found - set(NOT_RUN) if not c.startswith("nn2graph ")]
    assert not nn2graph, f"commands that are neither nn2graph commands nor listed in NOT_RUN: {nn2graph}"
    assert len(found - set(NOT_RUN)) >= 25


@pytest.mark.parametrize("page", [p for p in PAGES if set(page_commands(p)) - set(NOT_RUN)],
                         ids=lambda p: p.name)
def test_page_commands_run_as_written(page, tmp_path, monkeypatch, capsys):
    _inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    try:
        for command in page_commands(page):
            if command in NOT_RUN:
                continue
            words = _tiny(shlex.split(command))
            if _key(words) in _RAN:
                continue
            try:
                code = main(words[1:])
            except SystemExit as stop:  # argparse refused the command line
                code = stop.code
            err = capsys.readouterr().err
            assert code == 0, f"{page.name}: `{command}` (run as {shlex.join(words)}) exited {code}:\n{err}"
            _RAN.add(_key(words))
    finally:
        torch.set_num_threads(threads)  # --threads 1 in some commands
