"""``nn2graph compare`` end to end."""

import csv

from nn2graph.cli import main


def test_compare_writes_table_markdown_json_and_figure(tmp_path, capsys):
    degrees = tmp_path / "net.csv"
    degrees.write_text("layer,unit,degree\n" + "".join(f"fc1,{i},{d}\n" for i, d in enumerate([1, 1, 2, 3, 3, 5, 8, 13, 2, 1])))
    out = tmp_path / "out"
    code = main(["compare", f"toy={degrees}", "celegans:varshney2011:in", "--out", str(out), "--n-boot", "3",
                 "--title", "toy vs worm"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| toy | fc1 | 10 |" in printed and "| varshney2011 | in | 280 |" in printed
    with open(out / "compare.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["source"], r["layer"]) for r in rows] == [("toy", "fc1"), ("varshney2011", "in")]
    assert all(r["n_boot"] == "3" for r in rows)
    assert (out / "compare.md").read_text().splitlines()[0].startswith("| source | layer / kind |")
    assert (out / "compare.json").exists() and (out / "ccdf.png").stat().st_size > 10_000


def test_unknown_source_is_a_clear_error(tmp_path, capsys):
    assert main(["compare", "celegans:human", "--out", str(tmp_path), "--n-boot", "0"]) == 2
    err = capsys.readouterr().err
    assert "nn2graph compare: error: unknown connectome source 'celegans:human'" in err
    assert main(["compare", "missing.graphml", "--out", str(tmp_path)]) == 2
    assert "unknown source 'missing.graphml': no such file" in capsys.readouterr().err


def _toy(tmp_path):
    degrees = tmp_path / "net.csv"
    degrees.write_text("layer,unit,degree\n" + "".join(f"fc1,{i},{d}\n" for i, d in enumerate([1, 1, 2, 3, 3, 5, 8, 13, 2, 1])))
    return degrees


def test_without_out_the_comparison_is_printed_and_nothing_written(tmp_path, capsys, monkeypatch):
    degrees = _toy(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["compare", str(degrees), "celegans:varshney2011", "--n-boot", "3", "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "verdict (widest window)" in printed and "| net | fc1 | 10 |" in printed
    assert all(f"| varshney2011 | {kind} |" in printed for kind in ("in", "out", "total"))
    assert any(word in printed for word in ("supported", "inconclusive", "rejected", "not fitted"))
    assert "nothing written: pass --out DIR" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_out_is_a_run_folder(tmp_path, capsys, monkeypatch):
    degrees = _toy(tmp_path)
    out = tmp_path / "out"
    argv = ["compare", str(degrees), "celegans:varshney2011:in", "--out", str(out), "--n-boot", "3", "--jobs", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and p.name != ".nn2graph.lock"}
    assert len([name for name in files if name.startswith("analyses/")]) == 2

    def fail(*args, **kwargs):
        raise AssertionError("a finished comparison was computed again")

    # a rerun of the finished folder computes nothing and prints the same table
    monkeypatch.setattr("analysis.compare.compare_networks", fail)
    assert main(argv) == 0
    assert capsys.readouterr().out == printed
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name != ".nn2graph.lock"} == files
    # other degrees or settings in the same folder are refused, naming what differs
    assert main([*argv, "--seed", "1"]) == 2
    assert "holds a run with other settings: seed is 0 there, 1 here" in capsys.readouterr().err
    degrees.write_text(degrees.read_text().replace("fc1,9,1", "fc1,9,2"))
    assert main(argv) == 2
    assert "degree_sets" in capsys.readouterr().err
    # --restart deletes that run's files (the cached bootstraps too) and starts over
    monkeypatch.undo()
    assert main([*argv, "--restart", "--n-boot", "0"]) == 0
    assert not list((out / "analyses").iterdir())
    assert "n/a" in (out / "compare.md").read_text()
