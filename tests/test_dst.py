"""Tests of experiments.rewiring and experiments.dst: SET's and RigL's rewiring, fixed density, topology files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import TensorDataset

import experiments.rewiring as rewiring
from experiments.data import DataSplits
from experiments.dst import DSTError, default_config, load_topology, topology_steps, train_dst
from experiments.rewiring import init_masks, layer_densities, rigl_rewire, set_rewire
from nn2graph.run_folder import RunFolderError

SHAPE = (6, 10)


def _regrowth_pvalue(steps: int = 1500) -> float:
    """Chi-square p-value of SET's regrowth counts against uniform choice among the free positions.

    The layer is rewired ``steps`` times (new random weights each time, so the free positions
    change); a position's expected count is the sum over the steps where it was free of
    ``grown / free``.
    """
    rng = np.random.default_rng(1)
    mask = init_masks({"l": SHAPE}, {"l": 0.3}, method="rigl", seed=0)["l"]
    size = int(np.prod(SHAPE))
    grown, expected = np.zeros(size), np.zeros(size)
    for s in range(steps):
        r = set_rewire(rng.normal(size=SHAPE), mask, zeta=0.3, seed=np.random.SeedSequence([7, s]))
        free = ~r.kept.ravel()
        expected[free] += len(r.grown) / free.sum()
        grown[r.grown] += 1
        mask = r.mask
    assert np.all(expected > 5)
    return float(stats.chi2.sf(np.sum((grown - expected) ** 2 / expected), size - 1))


def test_set_regrowth_is_uniform_over_the_free_positions():
    assert _regrowth_pvalue() > 0.001


def test_the_uniformity_test_rejects_regrowth_biased_to_low_indices(monkeypatch):
    def biased(free, k, rng):
        weights = np.linspace(1.5, 1.0, len(free))  # the first free position 1.5 times as likely as the last
        return rng.choice(free, size=k, replace=False, p=weights / weights.sum())

    monkeypatch.setattr(rewiring, "_choose_free", biased)
    assert _regrowth_pvalue() < 1e-6


def test_set_removes_the_weights_closest_to_zero_on_each_side():
    rng = np.random.default_rng(5)
    for trial in range(20):
        w = rng.normal(size=SHAPE)
        m = rng.random(SHAPE) < 0.5
        r = set_rewire(w, m, zeta=0.3, seed=trial)
        flat_w = w.ravel()
        pos = sorted((i for i in np.flatnonzero(m.ravel()) if flat_w[i] >= 0), key=lambda i: flat_w[i])
        neg = sorted((i for i in np.flatnonzero(m.ravel()) if flat_w[i] < 0), key=lambda i: -flat_w[i])
        expected = pos[:round(0.3 * len(pos))] + neg[:round(0.3 * len(neg))]
        assert r.removed.tolist() == sorted(expected)
        assert int(r.mask.sum()) == int(m.sum())
        assert not np.any(r.kept.ravel()[r.grown])


def test_rigl_grows_exactly_the_largest_gradients():
    rng = np.random.default_rng(2)
    n = 7 * 9
    for _ in range(20):
        w, g = rng.normal(size=(7, 9)), rng.normal(size=(7, 9))
        m = np.zeros(n, dtype=bool)
        m[rng.choice(n, size=20, replace=False)] = True
        m = m.reshape(7, 9)
        r = rigl_rewire(w, m, g, fraction=0.4)
        k = round(0.4 * 20)
        flat_w, flat_g, flat_m = w.ravel(), g.ravel(), m.ravel()
        dropped = sorted((i for i in range(n) if flat_m[i]), key=lambda i: abs(flat_w[i]))[:k]
        candidates = [i for i in range(n) if not flat_m[i] or i in dropped]
        grown = sorted(candidates, key=lambda i: -abs(flat_g[i]))[:k]
        assert r.removed.tolist() == sorted(dropped)
        assert r.grown.tolist() == sorted(grown)
        assert int(r.mask.sum()) == 20


def test_layer_densities_hit_the_overall_density_and_cap_dense_layers():
    shapes = {"small": (10, 3), "big": (500, 400)}
    d = layer_densities(shapes, density=0.2)
    assert d["small"] == 1.0
    total = sum(d[k] * np.prod(s) for k, s in shapes.items()) / sum(np.prod(s) for s in shapes.values())
    assert total == pytest.approx(0.2)
    assert d["big"] / d["big"] == 1.0 and d["big"] < 0.2
    with pytest.raises(DSTError, match="density must be in"):
        default_config("set", density=1.5)
    with pytest.raises(DSTError, match="method must be one of"):
        default_config("sgd")


def _tiny_data(n: int = 64) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = (x.flatten(1)[:, :392].sum(1) > x.flatten(1)[:, 392:].sum(1)).long()
    return DataSplits(TensorDataset(x, y), TensorDataset(x[:32], y[:32]), TensorDataset(x[:32], y[:32]), "toy", "")


@pytest.mark.parametrize("method", ["set", "rigl"])
def test_density_is_fixed_at_every_step(method, tmp_path):
    config = default_config(method, epochs=4, batch_size=16, delta_t=2)
    result = train_dst(_tiny_data(), config, out=tmp_path, progress=False)
    steps = topology_steps(tmp_path)
    assert steps == [row["step"] for row in result.history] and len(steps) >= 3
    first = load_topology(tmp_path / "topology" / f"step-{steps[0]:08d}.pt")
    changed = False
    for s in steps[1:]:
        masks = load_topology(tmp_path / "topology" / f"step-{s:08d}.pt")
        for layer, mask in masks.items():
            assert int(mask.sum()) == int(first[layer].sum())
            changed |= bool(np.any(mask != first[layer]))
    assert changed
    for row in result.history:
        assert all(row[f"{layer}_active"] == int(first[layer].sum()) for layer in first)
        assert all(row[f"{layer}_added"] == row[f"{layer}_removed"] for layer in first)
    for layer, mask in result.masks.items():
        weight = getattr(result.model, layer).weight.detach().numpy()
        assert not np.any(weight[~mask])
    if method == "rigl":
        for layer, mask in first.items():
            assert int(mask.sum()) == round(result.densities[layer] * mask.size)


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    train_dst(_tiny_data(), default_config("set", epochs=1, batch_size=32), out=tmp_path, progress=False)
    with pytest.raises(RunFolderError, match="other settings: config.batch_size is 32 there, 16 here"):
        train_dst(_tiny_data(), default_config("set", epochs=1, batch_size=16), out=tmp_path, progress=False)


def test_load_topology_names_a_bad_file(tmp_path):
    torch.save({"something": 1}, tmp_path / "x.pt")
    with pytest.raises(DSTError, match="not a topology file"):
        load_topology(tmp_path / "x.pt")


def test_cnn_keeps_its_dense_layer_dense_and_its_graph_counts_every_connection(tmp_path):
    import nn2graph
    from experiments.dst import snapshot_model

    result = train_dst(_tiny_data(), default_config("rigl", model="cnn-mnist", epochs=2, batch_size=16, delta_t=2),
                       out=tmp_path, progress=False)
    assert result.densities["conv1"] == 1.0 and set(result.masks) == {"conv2", "fc3"}
    assert torch.count_nonzero(result.model.conv1.weight) == result.model.conv1.weight.numel()
    graph = nn2graph.to_graph(snapshot_model("cnn-mnist", result.masks), (1, 28, 28)).graph
    layer = np.asarray(graph.vs["layer"])
    edges = np.array(graph.get_edgelist())
    into_fc3 = (layer[edges[:, 0]] == "conv2") & (layer[edges[:, 1]] == "fc3")
    assert int(np.sum(np.asarray(graph.es["multiplicity"])[into_fc3])) == int(result.masks["fc3"].sum())
