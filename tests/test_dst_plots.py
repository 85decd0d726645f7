"""Figures of dynamic sparse training: panels, lines, legends and the PNG files."""

import numpy as np

from analysis import fit_tpl
from experiments.dst_plots import plot_accuracy, plot_attachment_strength, plot_step_ccdfs


def _delta_rows():
    return [{"step": s, "kind": k, "lower": lower, "upper": upper, "elasticity": e}
            for s, e in ((1, 0.9), (2, None), (3, 1.1)) for k in ("gains", "losses")
            for lower, upper in (("input", "fc1"), ("fc1", "fc2"))]


def test_attachment_strength_has_a_panel_per_pair_and_layer(tmp_path):
    omega = [{"step": s, "kind": "gains", "layer": "fc1", "r2": 0.5, "origin_r2": -4.0} for s in (1, 2)]
    fig = plot_attachment_strength({"SET": _delta_rows(), "RigL": _delta_rows()}, {"SET": omega},
                                   path=tmp_path / "s.png", title="SET and RigL")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["input \u2192 fc1", "fc1 \u2192 fc2", "\u03a9 of fc1 (gains)"]
    assert len(fig.axes) == 4 and fig.get_suptitle() == "SET and RigL"  # the empty fourth panel is hidden
    assert [t.get_text() for t in shown[0].get_legend().get_texts()] == [
        "SET gains", "SET losses", "RigL gains", "RigL losses"]
    assert np.isnan(shown[0].lines[0].get_ydata()[1])  # a missing elasticity is a gap
    assert shown[2].lines[1].get_ydata().tolist() == [-1.0, -1.0]  # through 0, below -1 drawn at -1
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_step_ccdfs_draw_each_step_and_its_fit():
    rng = np.random.default_rng(0)
    early, late = rng.poisson(5, 200) + 1, rng.zipf(2.3, 200)
    fit = fit_tpl(late, xmin=1, xmax=int(late.max()))
    fig = plot_step_ccdfs({0: {"fc1": early}, 9: {"fc1": late}}, {(9, "fc1"): (fit, "plausible")})
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "step 0", "step 9", f"TPL \u03b1={fit.alpha:.2f}, plausible"]
    assert ax.get_xlabel() == "degree" and ax.get_xscale() == ax.get_yscale() == "log"


def test_accuracy_in_percent_per_run(tmp_path):
    history = [{"step": 0, "test_accuracy": 0.1, "val_accuracy": 0.2}, {"step": 5, "test_accuracy": 0.8, "val_accuracy": 0.7}]
    fig = plot_accuracy({"SET": history}, path=tmp_path / "a.png")
    (ax,) = fig.axes
    assert [line.get_ydata().tolist() for line in ax.lines] == [[10.0, 80.0], [20.0, 70.0]]
    assert ax.get_ylabel() == "accuracy (%)" and (tmp_path / "a.png").exists()
