"""Tests of experiments.pruning: exact counts, deterministic ties, masks held through retraining."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from experiments.data import DataSplits
from experiments.models import build_model, pruning_fractions
from experiments.pruning import (
    PruningError,
    apply_masks,
    current_masks,
    make_pruning_permanent,
    prune_layers,
    sparsity_report,
)
from experiments.training import TrainingProfile, train


def brute_force_mask(weight: np.ndarray, s: float, eligible: np.ndarray) -> np.ndarray:
    """Remove round(s * #eligible) smallest |w| among eligible, ties by lower flat index."""
    flat, ok = np.abs(weight).ravel(), eligible.ravel()
    candidates = [i for i in range(flat.size) if ok[i]]
    candidates.sort(key=lambda i: (flat[i], i))
    mask = ok.copy() | ~eligible.ravel()  # ineligible stay as they are (alive here)
    for i in candidates[:round(s * len(candidates))]:
        mask[i] = False
    return mask.reshape(weight.shape)


@pytest.mark.parametrize("name", ["mlp", "cnn-mnist", "cnn-cifar10"])
def test_exact_fraction_per_layer_and_output_untouched(name):
    torch.manual_seed(0)
    model = build_model(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fractions = pruning_fractions(name)
    masks = prune_layers(model, fractions)
    report = {row.layer: row for row in sparsity_report(model).rows}
    for layer, s in fractions.items():
        n = report[layer].weights
        assert report[layer].nonzero == n - round(s * n), layer
        assert int(masks[layer].sum()) == n - round(s * n)
    out = [k for k in report if k not in fractions]
    assert len(out) == 1 and report[out[0]].sparsity == 0.0
    state = model.state_dict()
    assert torch.equal(state[f"{out[0]}.weight"], before[f"{out[0]}.weight"])
    for key in before:
        if key.endswith(".bias"):
            assert torch.equal(state[key], before[key]), "biases are never pruned"


def test_matches_brute_force_with_ties():
    torch.manual_seed(0)
    layer = nn.Linear(7, 5)
    with torch.no_grad():  # many exact ties in |w|, including opposite signs
        layer.weight.copy_(torch.randint(-3, 4, (5, 7)).float() / 4)
    weight = layer.weight.detach().numpy().copy()
    for s in (0.1, 0.35, 0.5, 0.9, 1.0, 0.0):
        fresh = nn.Sequential(nn.Linear(7, 5))
        fresh[0].load_state_dict(layer.state_dict())
        mask = prune_layers(fresh, {"0": s})["0"].numpy()
        np.testing.assert_array_equal(mask, brute_force_mask(weight, s, np.ones_like(mask)), err_msg=str(s))
        assert torch.equal(fresh[0].weight, layer.weight * torch.from_numpy(mask))


def test_all_ties_removes_lowest_indices_first():
    model = nn.Sequential(nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.fill_(0.5)
    mask = prune_layers(model, {"0": 0.25})["0"]
    assert mask.flatten().tolist() == [False, False, True, True, True, True, True, True]


def test_prune_among_eligible_only_packnet():
    torch.manual_seed(0)
    model = build_model("mlp")
    mask_a = prune_layers(model, {"fc1": 0.5})["fc1"]
    # "task B" connections: an arbitrary half of the survivors; prune 80% of them only
    g = torch.Generator().manual_seed(1)
    eligible = mask_a & (torch.rand(mask_a.shape, generator=g) < 0.5)
    weight = model.fc1.weight.detach().numpy().copy()
    mask_b = prune_layers(model, {"fc1": 0.8}, eligible={"fc1": eligible})["fc1"]
    n_eligible = int(eligible.sum())
    assert int((eligible & ~mask_b).sum()) == round(0.8 * n_eligible)
    assert torch.equal(mask_b | eligible, mask_a), "only eligible connections were removed"
    expected = brute_force_mask(weight, 0.8, eligible.numpy()) & mask_a.numpy()
    np.testing.assert_array_equal(mask_b.numpy(), expected)
    assert torch.equal(current_masks(model)["fc1"], mask_b)


def test_errors():
    model = build_model("cnn-mnist")
    with pytest.raises(PruningError, match="model has no layer 'fc9'; its weighted layers are conv1, conv2, fc3, out"):
        prune_layers(model, {"fc9": 0.5})
    with pytest.raises(PruningError, match="layer 'pool1' is a MaxPool2d, which has no handler in nn2graph.handlers"):
        prune_layers(model, {"pool1": 0.5})
    with pytest.raises(PruningError, match=r"fraction of layer 'fc3' must be in \[0, 1\], not 1.5"):
        prune_layers(model, {"fc3": 1.5})
    with pytest.raises(PruningError, match=r"mask for layer 'fc3' has shape \(3,\)"):
        apply_masks(model, {"fc3": torch.ones(3, dtype=torch.bool)})
    prune_layers(model, {"fc3": 0.5})
    with pytest.raises(PruningError, match="includes connections that are already pruned"):
        prune_layers(model, {"fc3": 0.5}, eligible={"fc3": torch.ones(256, 512, dtype=torch.bool)})


def tiny_mnist_like(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataSplits(TensorDataset(x, y), TensorDataset(x[:32], y[:32]), TensorDataset(x[:32], y[:32]), "toy", "")


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_pruned_weights_stay_zero_through_retraining(optimizer):
    torch.manual_seed(0)
    model = build_model("cnn-mnist")
    masks = prune_layers(model, pruning_fractions("cnn-mnist"))
    profile = TrainingProfile("t", optimizer, lr=0.05, retrain_lr=0.05, batch_size=32, epochs=1,
                              retrain_epochs=2, momentum=0.9, nesterov=optimizer == "sgd",
                              weight_decay=1e-3)
    before = {k: m.weight_orig.detach().clone() for k, m in
              ((k, getattr(model, k)) for k in masks)}
    train(model, tiny_mnist_like(), profile, retrain=True, device="cpu", progress=False)
    for layer, mask in masks.items():
        module = getattr(model, layer)
        assert torch.equal(module.weight_mask.bool(), mask), "the mask did not change"
        effective = module.weight_orig * module.weight_mask
        assert torch.count_nonzero(effective[~mask]) == 0
        assert torch.count_nonzero(module.weight.detach()[~mask]) == 0
        assert not torch.equal(module.weight_orig.detach()[mask], before[layer][mask]), "survivors trained"
    make_pruning_permanent(model)
    fresh = build_model("cnn-mnist", weights=model.state_dict())
    for layer, mask in masks.items():
        assert torch.count_nonzero(getattr(fresh, layer).weight[~mask]) == 0


def test_sparsity_report_table_and_json():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    prune_layers(model, {"0": 0.5})
    report = sparsity_report(model)
    rows = json.loads(report.to_json())
    assert rows == [{"layer": "0", "type": "Conv2d", "weights": 18, "nonzero": 9, "sparsity": 0.5},
                    {"layer": "2", "type": "Linear", "weights": 16, "nonzero": 16, "sparsity": 0.0}]
    table = report.to_table().splitlines()
    assert table[0].split() == ["layer", "type", "weights", "nonzero", "sparsity"]
    assert table[1].split() == ["0", "Conv2d", "18", "9", "50.00%"]
    assert table[-1].split() == ["total", "34", "25", "26.47%"]
    assert str(report) == report.to_table()


def test_same_masks_as_torch_l1_unstructured():
    """Without ties, our exact-count pruning removes what torch's l1_unstructured removes."""
    torch.manual_seed(4)
    ours, reference = build_model("cnn-cifar10"), build_model("cnn-cifar10")
    reference.load_state_dict(ours.state_dict())
    fractions = pruning_fractions("cnn-cifar10")
    masks = prune_layers(ours, fractions)
    for layer, s in fractions.items():
        module = dict(reference.named_modules())[layer]
        torch.nn.utils.prune.l1_unstructured(module, "weight", amount=s)
        assert torch.equal(masks[layer], module.weight_mask.bool()), layer
