"""nn2graph.cli.main: no command ends in a raw traceback."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import nn2graph.cli.fit as cli_fit
from nn2graph.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _binary(path):
    path.write_bytes(bytes(range(256)) * 4)  # not UTF-8 from byte 0x80 on
    return path


@pytest.mark.parametrize("argv", [
    ["fit", "{bin}"],
    ["compare", "{bin}", "--out", "{tmp}/c"],
    ["attachment", "{bin}", "{bin}", "--out", "{tmp}/a"],
])
def test_a_binary_csv_is_bad_input_naming_the_file(tmp_path, capsys, argv):
    binary = _binary(tmp_path / "degrees.csv")
    code = main([a.format(bin=binary, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(binary) in err and "not a text" in err and "Traceback" not in err


def test_a_csv_with_nul_bytes_is_bad_input(tmp_path, capsys):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"layer,unit,degree\na,0,1\x00\n")
    assert main(["fit", str(path)]) == 2
    assert str(path) in capsys.readouterr().err


def test_output_files_are_checked_before_any_work(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("degree\n1\n2\n3\n")
    for option, example in (("--json", "fits.json"), ("--plot", "fits.png")):
        with pytest.raises(SystemExit) as stop:
            main(["fit", str(csv), option, str(tmp_path)])  # a folder
        assert stop.value.code == 2
        assert f"argument {option}: '{tmp_path}' is a folder: give a file name, e.g. {tmp_path / example}" in \
            capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", str(csv), "--json", str(tmp_path / "missing" / "f.json")])
    assert "the folder" in capsys.readouterr().err and "does not exist" in capsys.readouterr().err + "does not exist"
    with pytest.raises(SystemExit):
        main(["fit", str(tmp_path)])
    assert "is a folder, not a file" in capsys.readouterr().err


def test_an_internal_error_says_it_is_a_bug_and_where_the_traceback_is(monkeypatch, tmp_path, capsys):
    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli_fit, "run", broken)
    csv = tmp_path / "d.csv"
    csv.write_text("degree\n1\n")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["fit", str(csv)]) == 3
    err = capsys.readouterr().err
    assert "internal error (a bug in nn2graph, please report it): ZeroDivisionError: division by zero" in err
    assert "rerun with --debug" in err and "Traceback" not in err
    written = Path(err.split("The traceback is in ")[1].split(";")[0])
    assert written.parent == tmp_path
    assert "Traceback (most recent call last)" in written.read_text() and "broken" in written.read_text()
    with pytest.raises(ZeroDivisionError):
        main(["fit", str(csv), "--debug"])
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "fit", str(csv)])


def test_an_os_error_without_a_file_is_a_bug_not_a_traceback(monkeypatch, capsys, tmp_path):
    def broken(args):
        raise OSError("no space left")

    monkeypatch.setattr(cli_fit, "run", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    csv = tmp_path / "d.csv"
    csv.write_text("degree\n1\n")
    assert main(["fit", str(csv)]) == 3
    assert "internal error" in capsys.readouterr().err


def test_warnings_are_one_line_on_the_command_line_and_restored_after(tmp_path, monkeypatch):
    csv = tmp_path / "d.csv"
    csv.write_text("degree\n1\n")
    before = warnings.formatwarning

    def warns(args):
        warnings.warn("careful", UserWarning)
        return 0

    monkeypatch.setattr(cli_fit, "run", warns)
    done = subprocess.run([sys.executable, "-c", "import sys, warnings, nn2graph.cli.fit as f; "
                           "f.run = lambda a: warnings.warn('careful') or 0; from nn2graph.cli import main; "
                           f"sys.exit(main(['fit', {str(csv)!r}]))"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0 and done.stderr == "nn2graph: warning: careful\n"
    assert main(["fit", str(csv)]) == 0
    assert warnings.formatwarning is before


def test_every_command_answers_help_without_errors(capsys):
    from nn2graph.cli import build_parser

    parser = build_parser()
    commands = [[]]
    for action in parser._actions:
        if action.dest == "command":
            for name, sub in action.choices.items():
                commands.append([name])
                for inner in sub._actions:
                    if inner.choices and hasattr(inner, "_name_parser_map"):
                        commands += [[name, target] for target in inner.choices]
    assert len(commands) > 10
    for argv in commands:
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--help"])
        assert stop.value.code == 0
        text = capsys.readouterr().out
        assert "%%" not in text and "METHOD.md" not in text and "../shared" not in text, argv


def test_counts_and_stage_ranges_are_checked_when_parsed(capsys, tmp_path):
    graphs = [tmp_path / "a.graphml", tmp_path / "b.graphml"]
    for path in graphs:
        path.write_text("")
    for argv, message in ((["reproduce", "continual", "--P", "8", "--n-bins", "0"], "argument --n-bins: expected a positive integer, got '0'"),
                          (["attachment", *map(str, graphs), "--out", "x", "--n-bins", "-2"], "expected a positive integer"),
                          (["reproduce", "celegans-development", "--out", "x", "--stages", "3-1"], "the range runs backwards")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err
