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
