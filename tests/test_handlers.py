"""Handlers against brute-force enumeration of (input pixel, output pixel, tap) connections."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from nn2graph import NN2GraphError, UnsupportedLayerError, to_graph
from nn2graph.handlers import effective_weight, handler_for, supported_layers, tap_counts


def _edges(layered, lower, upper):
    g = layered.graph
    result = {}
    for e in g.es:
        s, t = g.vs[e.source], g.vs[e.target]
        if s["layer"] == lower and t["layer"] == upper:
            result[(s["unit"], t["unit"])] = (e["multiplicity"], e["weight"])
    return result


def _brute_force_conv(conv, in_spatial):
    """Enumerate every (input pixel, output pixel, tap) connection with plain loops."""
    w = conv.weight.detach().numpy()
    n_out, per_group = w.shape[:2]
    kernel = w.shape[2:]
    out_per_group = n_out // conv.groups
    out_spatial = conv(torch.zeros(1, conv.in_channels, *in_spatial)).shape[2:]
    if conv.padding == "same":
        pad = [d * (k - 1) // 2 for d, k in zip(conv.dilation, kernel)]
    elif conv.padding == "valid":
        pad = [0] * len(kernel)
    else:
        pad = list(conv.padding)
    mult, weight = {}, {}
    for o in range(n_out):
        for i in range(per_group):
            c = (o // out_per_group) * per_group + i
            for tap in itertools.product(*[range(k) for k in kernel]):
                value = w[(o, i, *tap)]
                if value == 0:
                    continue
                for position in itertools.product(*[range(n) for n in out_spatial]):
                    read = [p * s - q + t * d for p, s, q, t, d in zip(position, conv.stride, pad, tap, conv.dilation)]
                    if all(0 <= r < n for r, n in zip(read, in_spatial)):
                        mult[(c, o)] = mult.get((c, o), 0) + 1
                        weight[(c, o)] = weight.get((c, o), 0.0) + abs(float(value))
    return mult, weight


CONV_CASES = [
    (nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3), (7, 6)),
    (nn.Conv2d, dict(in_channels=2, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2)), (7, 5)),
    (nn.Conv2d, dict(in_channels=4, out_channels=6, kernel_size=3, padding="same", dilation=2, groups=2), (6, 7)),
    (nn.Conv2d, dict(in_channels=4, out_channels=4, kernel_size=4, padding="same", groups=4), (5, 5)),
    (nn.Conv2d, dict(in_channels=3, out_channels=3, kernel_size=3, stride=3, padding=2, dilation=(1, 2)), (8, 9)),
    (nn.Conv2d, dict(in_channels=2, out_channels=2, kernel_size=3, padding="valid"), (5, 5)),
    (nn.Conv1d, dict(in_channels=3, out_channels=6, kernel_size=5, stride=2, padding=3, groups=3), (11,)),
    (nn.Conv1d, dict(in_channels=2, out_channels=3, kernel_size=4, padding="same", dilation=3), (9,)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("pruning", ["random", "l1"])
def test_conv_multiplicities_match_enumeration(case, pruning):
    cls, kwargs, in_spatial = CONV_CASES[case]
    torch.manual_seed(case)
    conv = cls(**kwargs)
    if pruning == "random":
        prune.random_unstructured(conv, "weight", amount=0.5)
    else:
        prune.l1_unstructured(conv, "weight", amount=0.4)
    layered = to_graph(nn.Sequential(conv), (conv.in_channels, *in_spatial))
    got = _edges(layered, "input", "0")
    mult, weight = _brute_force_conv(conv, in_spatial)
    assert {k: m for k, (m, _) in got.items()} == mult
    for key, (_, w) in got.items():
        assert w == pytest.approx(weight[key], rel=1e-9)
    # Total connections, independently: convolve an all-ones input with the 0/1 mask.
    with torch.no_grad():
        ones = torch.ones(1, conv.in_channels, *in_spatial)
        reads = torch.nn.functional.conv2d if cls is nn.Conv2d else torch.nn.functional.conv1d
        total = reads(ones, (conv.weight != 0).double().float(), None, conv.stride, conv.padding, conv.dilation, conv.groups)
    assert sum(m for m, _ in got.values()) == int(total.sum().round())


def test_tap_counts_border_taps_lose_padded_positions():
    assert tap_counts(5, 3, 3, stride=2, padding=1, dilation=1).tolist() == [2, 3, 2]
    assert tap_counts(6, 4, 3, stride=1, padding=0, dilation=1).tolist() == [4, 4, 4]
    assert tap_counts(7, 3, 2, stride=3, padding=0, dilation=2).tolist() == [3, 2]  # 3*2 + 2 = 8 is past the end


def test_linear_multiplicities_are_nonzero_weights():
    torch.manual_seed(0)
    layer = prune.random_unstructured(nn.Linear(7, 5), "weight", amount=0.6)
    got = _edges(to_graph(nn.Sequential(layer), (7,)), "input", "0")
    w = layer.weight.detach().numpy()
    expected = {(f, j): (1, abs(float(w[j, f]))) for j, f in zip(*np.nonzero(w))}
    assert got.keys() == expected.keys()
    for key in got:
        assert got[key][0] == 1
        assert got[key][1] == pytest.approx(expected[key][1])


def test_pruned_weight_is_read_through_the_mask_even_after_edits():
    torch.manual_seed(1)
    layer = prune.l1_unstructured(nn.Linear(6, 4), "weight", amount=0.5)
    with torch.no_grad():
        layer.weight_orig.fill_(2.0)  # the cached `weight` is stale until the next forward
        layer.weight_mask[0].fill_(0.0)
    mask = layer.weight_mask.numpy()
    got = _edges(to_graph(nn.Sequential(layer), (6,)), "input", "0")
    assert sorted(got) == sorted((int(f), int(j)) for j, f in zip(*np.nonzero(mask)))
    assert all(w == 2.0 for _, w in got.values())
    assert int((effective_weight(layer, "fc") != 0).sum()) == int(mask.sum())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_weights_are_refused_naming_the_layer(bad):
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[2].weight[0, :2] = bad
    with pytest.raises(NN2GraphError, match=r"layer '2' \(Linear\) has 2 NaN or infinite weight"):
        to_graph(net, (4,))


def test_padding_mode_other_than_zeros_is_refused():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(UnsupportedLayerError, match="padding_mode='reflect' is not supported"):
        to_graph(net, (1, 5, 5))


def test_registry_lists_layers_and_finds_subclasses():
    class MyLinear(nn.Linear):
        pass

    assert {"Conv1d", "Conv2d", "Linear"} <= set(supported_layers())
    assert handler_for(MyLinear(2, 2)) is handler_for(nn.Linear(2, 2))


@pytest.mark.parametrize("contiguous", [True, False])
def test_linear_groups_sum_their_features(contiguous, monkeypatch):
    from nn2graph import handlers

    monkeypatch.setattr(handlers, "CHUNK_ELEMENTS", 40)  # several row chunks
    rng = np.random.default_rng(3)
    layer = nn.Linear(30, 9)
    with torch.no_grad():
        layer.weight[torch.from_numpy(rng.random((9, 30)) < 0.5)] = 0.0
    groups = np.sort(rng.integers(0, 6, 30)) if contiguous else rng.permutation(np.arange(30) % 6)
    blocks = list(handlers.linear_connections(layer, layer.weight, groups, 6, (1, 30), (1, 9)))
    assert len(blocks) > 1
    got = {(s, t): (m, w) for b in blocks for s, t, m, w in zip(b.source, b.target, b.multiplicity, b.weight)}
    w = layer.weight.detach().numpy()
    expected = {}
    for j in range(9):
        for f in range(30):
            if w[j, f] != 0:
                m, total = expected.get((groups[f], j), (0, 0.0))
                expected[(groups[f], j)] = (m + 1, total + abs(float(w[j, f])))
    assert got.keys() == expected.keys()
    for key, (m, total) in expected.items():
        assert got[key][0] == m and got[key][1] == pytest.approx(total)
