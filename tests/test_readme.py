"""README.md opens with the two commands a new user runs; CI runs the second one."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    assert _readme_commands()[0].endswith("nn2graph demo")
    assert len(_readme_commands()) == 2


#: The lines .ci/run may have before the README's command: where pip unpacks and that it keeps no
#: download cache (a CI machine ran out of disk installing torch), and a print of the free space.
#: None of them installs or runs anything of the project.
_CI_SETUP = ('export PIP_NO_CACHE_DIR=1 TMPDIR="$PWD/.ci-tmp"', 'mkdir -p "$TMPDIR"',
             "df -h . \"$TMPDIR\" | sed 's/^/disk: /'")


def test_ci_runs_the_readme_test_command_and_nothing_else():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci if line.strip() and not line.startswith(("#", "set ", "cd "))]
    setup = [line for line in commands if line in _CI_SETUP]
    assert commands == setup + [_readme_commands()[1]]


def test_the_test_command_installs_the_connectome_data():
    # tests/test_connectomes.py loads real connectomes from cect: CI must install it,
    # without its dependencies (they pin numpy < 2.4), after the extra with its needs, and
    # pinned: the tests check the counts of this release's data.
    command = _readme_commands()[1]
    assert "'.[test,connectomes]'" in command
    assert command.index("connectomes]'") < command.index("pip install --no-deps 'cect==0.3.5'") < command.index("pytest")


def test_the_in_python_example_runs_verbatim(tmp_path):
    # pasted as it stands into a fresh interpreter, in an empty folder
    import os
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text()
    block = text.split("## In Python\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert done.returncode == 0, done.stderr
    alpha, xmin, xmax, p = done.stdout.split()
    assert int(xmin) <= int(xmax) and 0 <= float(p) <= 1
    import networkx as nx

    graph = nx.read_graphml(tmp_path / "net.graphml")
    assert graph.number_of_nodes() == 784 + 256 + 10
    assert graph.number_of_edges() == round(0.1 * 784 * 256) + 256 * 10  # 90% of layer 1 pruned
    assert (tmp_path / "fits.png").read_bytes()[:4] == b"\x89PNG"
