"""analysis.plotting: the CCDF helpers against direct counts, and the figures' contents."""

import math

import numpy as np
import pytest

from analysis import FitError, fit_tpl
from analysis.plotting import (
    ccdf_points,
    finish_figure,
    fit_ccdf_curve,
    label_ccdf_axes,
    model_ccdf_curve,
    plot_ccdf_fit,
    plot_layer_fits,
)


def test_ccdf_points_counts_share_at_least_x():
    x = np.array([0, 3, 1, 3, 7, 1, 1])
    v, s = ccdf_points(x)
    pos = x[x > 0]
    assert v.tolist() == [1, 3, 7]
    assert s.tolist() == [np.mean(pos >= u) for u in v]


def test_model_curve_is_the_fit_ccdf():
    x = np.random.default_rng(0).zipf(2.0, 500)
    fit = fit_tpl(x, xmin=2, xmax=int(x.max()))
    mx, ms = model_ccdf_curve(fit)
    assert mx[0] == 2 and mx[-1] == fit.xmax and np.all(np.diff(mx) > 0)
    assert np.allclose(ms, fit.ccdf(mx)) and ms[0] == 1.0
    inf = fit_tpl(x, xmin=2, xmax=math.inf)
    mx, _ = model_ccdf_curve(inf, upper=5000)
    assert mx[-1] == 5000


def test_plot_layer_fits_panels_lines_and_png(tmp_path):
    rng = np.random.default_rng(1)
    degrees = {"features.0": rng.zipf(2.0, 400), "fc1": rng.zipf(2.5, 300), "fc2": rng.poisson(5, 100) + 1}
    fits = {k: fit_tpl(v, xmin=1, xmax=int(v.max())) for k, v in degrees.items() if k != "fc2"}
    fits["fc2"] = None
    path = tmp_path / "fits.png"
    fig = plot_layer_fits(degrees, fits, pvalues={"fc1": 0.42}, path=path, title="MLP")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["features.0", "fc1", "fc2"]
    ax = visible[1]
    red = [ln for ln in ax.get_lines() if ln.get_color() == "red"]
    assert len(red) == 1
    xr, yr = red[0].get_data()
    pos = degrees["fc1"][degrees["fc1"] > 0]
    assert xr[0] == fits["fc1"].xmin and xr[-1] == fits["fc1"].xmax
    assert yr[0] == pytest.approx(np.mean(pos >= fits["fc1"].xmin))  # starts at the data at xmin
    f = fits["fc1"]
    assert yr[-1] == pytest.approx(np.mean(pos > f.xmax) + f.n_tail / pos.size * f.pmf(f.xmax))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("α=" in t and "p=0.42" in t and f"[{fits['fc1'].xmin}, {fits['fc1'].xmax}]" in t for t in legend)
    assert not [ln for ln in visible[2].get_lines() if ln.get_color() == "red"]


def test_fit_plot_method_draws_tail_and_model():
    x = np.random.default_rng(2).zipf(2.2, 300)
    fit = fit_tpl(x, xmin=2, xmax=math.inf)
    ax = fit.plot()
    lines = ax.get_lines()
    assert len(lines) == 2 and lines[1].get_color() == "red"
    assert lines[0].get_xdata()[0] == 2
    assert plot_ccdf_fit(fit, ax=ax, color="k") is ax and len(ax.get_lines()) == 4  # draws on a given Axes


def test_layer_without_positive_degrees_says_so():
    fig = plot_layer_fits({"fc1": [1, 2, 2, 5], "out": [0, 0]}, {"fc1": None, "out": None})
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts == ["no positive degrees"] and not fig.axes[1].get_lines()


def test_bad_layers():
    with pytest.raises(FitError, match="degrees_by_layer is empty"):
        plot_layer_fits({}, {})
    with pytest.raises(FitError, match=r"layers \['fc9'\] that are not in degrees_by_layer"):
        plot_layer_fits({"fc1": [1, 2, 3]}, {"fc9": None})


def test_a_verdict_line_is_shown_in_the_legend_of_a_plain_fit():
    x = np.random.default_rng(0).zipf(2.0, 300)
    fit = fit_tpl(x, xmin=1, xmax=int(x.max()))
    fig = plot_layer_fits({"fc1": x}, {"fc1": fit}, verdicts={"fc1": "inconclusive: range 0.3 decades < 1; alpha 0.1"})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("inconclusive: range 0.3 decades < 1\nalpha 0.1" in t for t in legend)


def test_fit_ccdf_curve_starts_at_the_data_ccdf_at_xmin_and_follows_the_fit():
    x = np.random.default_rng(1).zipf(2.2, 400)
    degrees = np.concatenate([np.zeros(20, dtype=int), x])
    fit = fit_tpl(x, xmin=2, xmax=int(np.quantile(x, 0.95)))
    mx, my = fit_ccdf_curve(fit, degrees)
    assert mx[0] == fit.xmin and mx[-1] == fit.xmax
    assert my[0] == pytest.approx(np.mean(x >= fit.xmin))  # the data's CCDF at xmin, zeros left out
    above = np.mean(x > fit.xmax)
    np.testing.assert_allclose(my, above + np.mean((x >= fit.xmin) & (x <= fit.xmax)) * fit.ccdf(mx))


def test_finish_figure_titles_and_writes_atomically(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    assert finish_figure(fig) is fig and fig.get_suptitle() == ""
    finish_figure(fig, path=tmp_path / "f.png", title="T", dpi=30)
    assert fig.get_suptitle() == "T" and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # no temporary file left behind


def test_label_ccdf_axes_labels_a_short_axis_with_plain_ticks():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    ax.loglog([1, 3, 20], [1.0, 0.4, 0.1], "o", label="step 0")
    label_ccdf_axes(ax, np.array([0, 1, 3, 20]), legend_size=6)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("degree", "P(X ≥ x)")
    assert ax.get_legend().get_texts()[0].get_fontsize() == 6
    assert ax.xaxis.get_major_formatter()(20.0, 0) == "20"  # plain, not 2x10^1
