"""nn2graph.checkpoint: degrees read from files equal those of the same weights in memory."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.nn.utils import prune

from nn2graph import checkpoint_degrees
from nn2graph.checkpoint import CheckpointError, ConvInput


def _sparse(shape, density, gen, dtype=torch.float32):
    w = torch.randn(shape, generator=gen)
    w[torch.rand(shape, generator=gen) > density] = 0.0
    w[0].neg_()
    return (w * (w != 0)).to(dtype)  # multiplying by the mask leaves -0.0 where a negative was pruned


def _wanda(shape, keep, gen):
    w = torch.randn(shape, generator=gen)
    idx = w.abs().topk(shape[1] - keep, dim=1, largest=False).indices
    return w.scatter(1, idx, 0.0)  # every row keeps exactly `keep`


def _two_four(shape, gen):
    w = torch.randn(shape, generator=gen).reshape(shape[0], -1, 4)
    idx = w.abs().topk(2, dim=2, largest=False).indices
    return w.scatter(2, idx, 0.0).reshape(shape)


@pytest.fixture(scope="module")
def weights():
    gen = torch.Generator().manual_seed(0)
    return {
        "conv1.weight": _sparse((8, 3, 3, 3), 0.6, gen),
        "conv1.bias": torch.randn(8, generator=gen),
        "conv2.weight": _sparse((8, 2, 3, 3), 0.7, gen),  # groups=4
        "layers.2.mlp.weight": _sparse((40, 64), 0.3, gen, torch.float16),
        "layers.2.norm.weight": torch.ones(64),
        "layers.10.mlp.weight": _wanda((48, 40), 10, gen).to(torch.bfloat16),
        "layers.3.attn.weight": _two_four((32, 48), gen),
        "head.weight": _sparse((10, 32), 0.5, gen),
    }


def _write_sharded(folder, weights, shards):
    """transformers' layout: model-0000i-of-0000n.safetensors and the index (names sorted)."""
    names = list(weights)
    weight_map = {}
    for i, part in enumerate(np.array_split(np.arange(len(names)), shards)):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({names[j]: weights[names[j]].contiguous() for j in part}, folder / file)
        weight_map.update({names[j]: file for j in part})
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in weights.values())},
             "weight_map": dict(sorted(weight_map.items()))}
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps(index, indent=2, sort_keys=True))
    return path


def _conv_reference(w, size, padding, groups):
    """Connections by the graph rule, computed by torch's own convolution of an all-ones input.

    A zero-padded convolution of ones with the kernel's non-zero mask counts, at every output
    position, the non-zero taps that read a real pixel; summed over positions that is the
    in-degree. Feeding one input channel at a time gives each input channel's out-degree.
    """
    mask = (w != 0).double()
    c_in = w.shape[1] * groups
    ones = torch.ones(1, c_in, *size, dtype=torch.float64)
    in_deg = F.conv2d(ones, mask, padding=padding, groups=groups).sum(dim=(0, 2, 3))
    out_deg = []
    for c in range(c_in):
        single = torch.zeros_like(ones)
        single[:, c] = 1
        out_deg.append(F.conv2d(single, mask, padding=padding, groups=groups).sum())
    return in_deg.round().long().numpy(), torch.stack(out_deg).round().long().numpy()


def _brute_conv_in_degree(w, size, padding):
    """In-degree by enumerating every output pixel and tap (groups=1, stride 1)."""
    out_c, in_c, kh, kw = w.shape
    h, wd = size
    ho, wo = h + 2 * padding - kh + 1, wd + 2 * padding - kw + 1
    deg = np.zeros(out_c, dtype=np.int64)
    nz = (w != 0).numpy()
    for o in range(out_c):
        for i in range(ho):
            for j in range(wo):
                for c in range(in_c):
                    for u in range(kh):
                        for v in range(kw):
                            y, x = i - padding + u, j - padding + v
                            deg[o] += bool(nz[o, c, u, v]) and 0 <= y < h and 0 <= x < wd
    return deg


CONV = {"conv1.weight": ConvInput((9, 7), padding=1), "conv2.weight": ConvInput((5, 5), padding=1, groups=4)}


@pytest.mark.parametrize("chunk_bytes", [1 << 26, 1, 100])
def test_sharded_checkpoint_equals_in_memory(weights, tmp_path, chunk_bytes):
    index = _write_sharded(tmp_path, weights, shards=3)
    result = checkpoint_degrees(index, conv=CONV, chunk_bytes=chunk_bytes)
    assert result.format == "sharded safetensors"
    # natural order across shards: conv1, conv2, head, layers.2, layers.3, layers.10
    assert result.names == ["conv1", "conv2", "head", "layers.2.mlp", "layers.3.attn", "layers.10.mlp"]
    files = {e.file for e in result}
    assert len(files) == 3
    for entry in result:
        w = weights[entry.tensor]
        assert entry.shape == tuple(w.shape) and entry.nonzero == int(torch.count_nonzero(w))
        if entry.kind == "linear":
            assert entry.counting == "weights"
            assert entry.in_degree.tolist() == torch.count_nonzero(w, dim=1).tolist()
            assert entry.out_degree.tolist() == torch.count_nonzero(w, dim=0).tolist()
        else:
            geometry = CONV[entry.tensor]
            assert entry.counting == "connections"
            ref_in, ref_out = _conv_reference(w, geometry.size, geometry.padding, geometry.groups)
            assert entry.in_degree.tolist() == ref_in.tolist()
            assert entry.out_degree.tolist() == ref_out.tolist()
    brute = _brute_conv_in_degree(weights["conv1.weight"], (9, 7), 1)
    assert result["conv1"].in_degree.tolist() == brute.tolist()


def test_kernels_without_input_size_count_weights(weights, tmp_path):
    file = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in weights.items()}, file)
    entry = checkpoint_degrees(file, pattern="conv1.*")["conv1"]
    w = weights["conv1.weight"]
    assert entry.counting == "weights"
    assert entry.in_degree.tolist() == torch.count_nonzero(w.flatten(1), dim=1).tolist()
    assert entry.out_degree.tolist() == torch.count_nonzero(w.transpose(0, 1).flatten(1), dim=1).tolist()


def test_structured_layers_are_reported(weights, tmp_path):
    result = checkpoint_degrees(_write_sharded(tmp_path, weights, shards=2), conv=CONV)
    wanda, nm, free = result["layers.10.mlp"], result["layers.3.attn"], result["layers.2.mlp"]
    assert wanda.pattern.kind == "per-row" and wanda.pattern.row_count == 10
    assert wanda.not_fitted("in") == "in-degree is 10 for every unit (" + wanda.pattern.describe() + ")"
    assert wanda.not_fitted("out") is None
    assert nm.pattern.kind == "N:M" and nm.pattern.n_m == (2, 4) and nm.pattern.row_count == 24
    assert nm.not_fitted("in") is not None and nm.not_fitted("out") is None
    assert free.pattern.kind == "unstructured" and free.not_fitted("in") is None
    dense = torch.randn(6, 8)
    save_file({"fc.weight": dense, "x.weight": _two_four((4, 16), torch.Generator().manual_seed(1))},
              tmp_path / "d.safetensors")
    d = checkpoint_degrees(tmp_path / "d.safetensors")
    assert d["fc"].pattern.kind == "dense" and d["fc"].not_fitted("in") and d["fc"].not_fitted("out")
    assert d["x"].pattern.n_m == (2, 4)
    assert "2:4" in d.summary() and "dense" in d.summary()


def test_torch_state_dict_with_pruning_masks(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(12, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    prune.l1_unstructured(model[0], "weight", amount=0.6)
    file = tmp_path / "sd.pt"
    torch.save(model.state_dict(), file)
    result = checkpoint_degrees(file)
    assert result.format == "torch" and result.names == ["0", "2"]
    eff = model[0].weight_orig * model[0].weight_mask
    assert result["0"].in_degree.tolist() == torch.count_nonzero(eff, dim=1).tolist()
    assert result["0"].out_degree.tolist() == torch.count_nonzero(eff, dim=0).tolist()
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "nested.pt")
    assert checkpoint_degrees(tmp_path / "nested.pt").names == ["state_dict.0", "state_dict.2"]


def test_errors_name_the_file_and_tensor(weights, tmp_path):
    index = _write_sharded(tmp_path, weights, shards=3)
    with pytest.raises(CheckpointError, match="matches none of its weights"):
        checkpoint_degrees(index, pattern="nothing*")
    with pytest.raises(CheckpointError, match=r"conv pattern 'fc\*' matches no selected tensor"):
        checkpoint_degrees(index, conv={"fc*": ConvInput((3, 3))})
    with pytest.raises(CheckpointError, match="cannot read an input of size"):
        checkpoint_degrees(index, conv={"conv1.weight": ConvInput((1, 1))})
    (tmp_path / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(CheckpointError, match="shard 'model-00002-of-00003.safetensors' of tensor .* does not exist"):
        checkpoint_degrees(index)
    bad = torch.zeros(3, 4)
    bad[1, 2] = math.nan
    save_file({"fc.weight": bad}, tmp_path / "nan.safetensors")
    with pytest.raises(CheckpointError, match=r"nan.safetensors: tensor 'fc.weight' has 1 NaN or infinite"):
        checkpoint_degrees(tmp_path / "nan.safetensors")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(CheckpointError, match=r"module.pt: not a plain state dict.*state_dict\(\)"):
        checkpoint_degrees(tmp_path / "module.pt")
    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.bin"):
        checkpoint_degrees(tmp_path / "junk.bin")
    with pytest.raises(CheckpointError, match="no such file"):
        checkpoint_degrees(tmp_path / "absent.safetensors")


def test_conv_input_parse():
    assert ConvInput.parse("32x32,stride=2,padding=same") == ConvInput((32, 32), stride=2, padding="same")
    assert ConvInput.parse("16,padding=1x2") == ConvInput((16,), padding=(1, 2))
    with pytest.raises(CheckpointError, match="expected e.g."):
        ConvInput.parse("32x32,pad=1")


def test_cli_degrees_writes_the_degree_csv(weights, tmp_path, capsys):
    import csv

    from nn2graph.cli import main

    index = _write_sharded(tmp_path, weights, shards=3)
    out = tmp_path / "deg.csv"
    code = main(["degrees", str(index), "--out", str(out), "--conv", "conv1.weight=9x7,padding=1",
                 "--conv", "conv2.weight=5x5,padding=1,groups=4", "--json", str(tmp_path / "r.json")])
    assert code == 0
    text = capsys.readouterr().out
    assert "2:4" in text and "per-row" in text and "layers.10.mlp" in text
    expected = checkpoint_degrees(index, conv=CONV).degree_sets()
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    got = {}
    for r in rows:
        got.setdefault(r["layer"], []).append(int(r["degree"]))
    assert list(got) == list(expected) and all(got[k] == expected[k].tolist() for k in got)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["layers"][4]["pattern"]["n_m"] == [2, 4]
    assert main(["degrees", str(tmp_path / "nope.safetensors")]) == 2
    assert "nn2graph degrees: error:" in capsys.readouterr().err
    assert main(["degrees", str(index), "--conv", "conv1.weight"]) == 2
    assert "expected PATTERN=GEOMETRY" in capsys.readouterr().err
