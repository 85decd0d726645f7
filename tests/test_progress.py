"""nn2graph.progress: tqdm bars on a terminal only, plain periodic lines in logs."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from nn2graph.progress import PlainProgress, progress

ROOT = Path(__file__).resolve().parents[1]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_log_gets_whole_lines_at_each_tenth_and_the_end():
    out, clock = io.StringIO(), _Clock()
    with PlainProgress(total=1000, desc="bootstrap", unit="set", stream=out, clock=clock) as bar:
        for i in range(1000):
            clock.now = (i + 1) / 100  # 10 s in all: each tenth is 1 s apart, below min_seconds=5
            bar.update()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "bootstrap: 0/1000 sets"
    assert lines[-1] == "bootstrap: 1000/1000 sets (100%) in 10 s"
    # a line at most every 5 s: at 50% (5 s) and at 100% only, between the first and the last
    assert lines[1:-1] == ["bootstrap: 500/1000 sets (50%), 5 s elapsed, about 5 s left"]


def test_a_slow_loop_gets_a_line_every_30_seconds_even_between_tenths():
    out, clock = io.StringIO(), _Clock()
    bar = PlainProgress(total=100, desc="train epoch 1/1", unit="batch", stream=out, clock=clock)
    clock.now = 31.0
    bar.set_postfix(loss="0.1234")
    bar.update(2)  # 2%: no tenth crossed, but 31 s without a line
    clock.now = 40.0
    bar.update(1)
    bar.close()
    bar.close()  # once
    lines = out.getvalue().splitlines()
    assert lines[1] == "train epoch 1/1: 2/100 batches (2%), 31 s elapsed, about 25 min 19 s left, loss 0.1234"
    assert len(lines) == 3 and lines[2].startswith("train epoch 1/1: 3/100 batches (3%) in 40 s")


def test_terminal_gets_a_tqdm_bar_and_disabled_writes_nothing():
    term = _Terminal()
    assert sum(progress(range(5), desc="x", stream=term)) == 10
    assert "\r" in term.getvalue() and "x:   0%|" in term.getvalue()  # a tqdm bar, cleared at the end
    log = io.StringIO()
    with progress(total=3, enabled=False, stream=log) as bar:
        bar.update(3)
    assert log.getvalue() == ""


def test_bootstrap_in_a_log_has_no_carriage_returns():
    # the bootstrap as `nn2graph fit --pvalue ... 2> log` runs it: stderr is a file, not a terminal
    from analysis import tpl_pvalue

    degrees = np.random.default_rng(0).zipf(2.0, 300)
    err = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        tpl_pvalue(degrees, n_boot=20, seed=0, n_jobs=1, progress=True)
    finally:
        sys.stderr = sys_stderr
    text = err.getvalue()
    assert "\r" not in text
    assert text.splitlines()[0] == "bootstrap: 0/20 sets"
    assert text.splitlines()[-1].startswith("bootstrap: 20/20 sets (100%) in ")


def test_fit_pvalue_says_something_at_once_when_stderr_is_a_log(tmp_path):
    csv = tmp_path / "d.csv"
    degrees = np.random.default_rng(1).zipf(2.0, 200)
    csv.write_text("degree\n" + "\n".join(map(str, degrees)) + "\n")
    log = tmp_path / "log"
    with log.open("w") as err:
        done = subprocess.run([sys.executable, "-m", "nn2graph", "fit", str(csv), "--pvalue", "--n-boot", "20",
                               "--jobs", "1", "--seed", "0"], cwd=ROOT, stderr=err, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, log.read_text()
    text = log.read_text()
    assert "\r" not in text and "bootstrap: 0/20 sets" in text and "bootstrap: 20/20 sets (100%)" in text
