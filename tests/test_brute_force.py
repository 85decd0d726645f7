"""Modern blocks against a brute force that shares nothing with the tracer or the handlers.

The brute force finds which earlier nodes each input feature of a weighted layer depends
on by autograd (a perturbation added to every layer's output, float64, random input,
smooth activations; the dependence stops at each weighted layer), takes the union over positions, and counts connections with plain
loops: a Linear's non-zero weight once per position it is applied at, a convolution's
(tap, output position) pairs that read a real pixel.  The conventions of docs/graph.md
that are not numerical facts are applied to a copy of the model: normalisations become
their elementwise affine part (pass-through, zero weights gate).  Degrees then follow the
paper's conventions and must equal ``layer_degrees`` and ``to_graph``.
"""

import copy
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from nn2graph import layer_degrees, to_graph


class _Affine(nn.Module):
    """A normalisation's elementwise part: what the pass-through convention keeps."""

    def __init__(self, norm, dim):
        super().__init__()
        self.weight, self.bias, self.dim = norm.weight, norm.bias, dim

    def forward(self, x):
        shape = [1] * x.ndim
        shape[self.dim] = -1
        return x * self.weight.reshape(shape) + self.bias.reshape(shape)


def _convention_copy(model):
    pruned = {m: m.weight for m in model.modules() if hasattr(m, "weight_orig")}
    for module in pruned:
        del module.weight  # recomputed by the pruning hook; a non-leaf tensor cannot be deep-copied
    try:
        model = copy.deepcopy(model).double()
    finally:
        for module, weight in pruned.items():
            module.weight = weight
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.LayerNorm):
                setattr(module, child_name, _Affine(child, -1))
            elif isinstance(child, nn.GroupNorm):
                setattr(module, child_name, _Affine(child, 1))
    return model


def _weight(module):
    if hasattr(module, "weight_orig"):
        return (module.weight_orig * module.weight_mask).detach().double()
    return module.weight.detach().double()


def _conv_pairs(conv, in_spatial):
    """(input channel, output channel) -> connections, by enumerating taps and output positions."""
    w = _weight(conv).numpy()
    n_out, per_group = w.shape[:2]
    kernel = w.shape[2:]
    out_per_group = n_out // conv.groups
    pad = [0] * len(kernel) if conv.padding == "valid" else list(conv.padding)
    out_spatial = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(in_spatial, pad, conv.dilation, kernel, conv.stride)]
    mult = {}
    for o in range(n_out):
        for i in range(per_group):
            c = (o // out_per_group) * per_group + i
            for tap in itertools.product(*[range(k) for k in kernel]):
                if w[(o, i, *tap)] == 0:
                    continue
                for position in itertools.product(*[range(n) for n in out_spatial]):
                    read = [p * s - q + t * d for p, s, q, t, d in zip(position, conv.stride, pad, tap, conv.dilation)]
                    if all(0 <= r < n for r, n in zip(read, in_spatial)):
                        mult[(c, o)] = mult.get((c, o), 0) + 1
    return mult


def brute_force(model, input_shape, input_axis):
    """Edges {(lower node, upper node): multiplicity}, node counts per layer, and degrees."""
    model = _convention_copy(model).eval()
    torch.manual_seed(123)
    x = torch.randn(1, *input_shape, dtype=torch.float64, requires_grad=True)
    layers, deltas, inputs = [], {}, {}
    handles = []
    for path, module in model.named_modules():
        if type(module) in (nn.Linear, nn.Conv1d, nn.Conv2d):

            def pre(mod, args, path=path):
                if path not in inputs:
                    layers.append((path, mod))
                    inputs[path] = args[0]

            def post(mod, args, out, path=path):
                delta = torch.zeros_like(out, requires_grad=True)
                deltas[path] = delta
                return out.detach() + delta  # dependence stops at the layer: edges join adjacent weighted layers

            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    axis_of = {path: 1 if isinstance(m, (nn.Conv1d, nn.Conv2d)) else -1 for path, m in layers}
    sizes = [x.shape[input_axis]] + [m.out_channels if axis_of[p] == 1 else m.out_features for p, m in layers]
    first = np.concatenate([[0], np.cumsum(sizes)])
    sources = [("input", x, input_axis)] + [(p, deltas[p], axis_of[p]) for p, _ in layers]
    generator = torch.Generator().manual_seed(7)
    edges = {}
    for rank, (path, module) in enumerate(layers, start=1):
        x_in = inputs[path]
        axis = axis_of[path] % x_in.ndim
        deps = []
        for f in range(x_in.shape[axis]):
            feature = x_in.select(axis, f)
            weights = torch.rand(feature.shape, generator=generator, dtype=torch.float64) + 0.5
            grads = torch.autograd.grad((feature * weights).sum(), [s[1] for s in sources[:rank]], retain_graph=True, allow_unused=True)
            nodes = set()
            for k, ((_, tensor, a), g) in enumerate(zip(sources[:rank], grads)):
                if g is None:
                    continue
                a = a % tensor.ndim
                strength = g.abs().sum(dim=[d for d in range(g.ndim) if d != a])
                nodes |= {int(first[k] + u) for u in torch.nonzero(strength > 1e-12).ravel().tolist()}
            deps.append(nodes)
        if axis_of[path] == 1:
            for (c, o), m in _conv_pairs(module, list(x_in.shape[2:])).items():
                for n in deps[c]:
                    key = (n, int(first[rank] + o))
                    edges[key] = edges.get(key, 0) + m * x_in.shape[0]
        else:
            w = _weight(module).numpy()
            positions = x_in.numel() // x_in.shape[-1]
            for j, f in zip(*np.nonzero(w)):
                for n in deps[f]:
                    key = (n, int(first[rank] + j))
                    edges[key] = edges.get(key, 0) + positions
    out_first = first[-2]
    degree = np.zeros(first[-1], dtype=np.int64)
    for (s, t), m in edges.items():
        degree[t] += m
        if t < out_first:
            degree[s] += m
    names = ["input"] + [p for p, _ in layers]
    degrees = {name: degree[first[r] : first[r + 1]] for r, name in enumerate(names[:-1])}
    return edges, names, degrees


def _prune(model, amount=0.4, seed=0):
    torch.manual_seed(seed)
    for module in model.modules():
        if type(module) in (nn.Linear, nn.Conv1d, nn.Conv2d):
            prune.random_unstructured(module, "weight", amount=amount)
    return model


def _check(model, input_shape, input_axis):
    edges, names, degrees = brute_force(model, input_shape, input_axis)
    layered = to_graph(model, input_shape)
    assert list(layered.layers) == names
    got = dict(zip(zip(layered.source.tolist(), layered.target.tolist()), layered.multiplicity.tolist()))
    assert got == edges
    ours = layer_degrees(model, input_shape)
    assert list(ours) == list(degrees)
    for name in degrees:
        assert ours[name].tolist() == degrees[name].tolist(), name
    return layered


class SqueezeExcitation(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1, self.fc2 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.project = nn.Conv2d(8, 6, 1)
        self.head = nn.Linear(6, 5)

    def forward(self, x):
        x = F.silu(self.stem(x))
        scale = torch.sigmoid(self.fc2(F.silu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        x = self.project(scale * x)
        return self.head(x.mean((2, 3)))


class ChannelShuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.branch = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.top = nn.Conv2d(8, 4, 1)
        self.head = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        x = F.gelu(self.stem(x))
        left, right = x.chunk(2, dim=1)
        x = torch.cat([left, F.gelu(self.branch(right))], dim=1)
        b, c, h, w = x.shape
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)
        return self.head(torch.flatten(self.top(x), 1))


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 2, stride=2)
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.rand(dim, 1, 1) + 0.1)
        self.head_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 5)
        with torch.no_grad():
            self.layer_scale[2] = 0.0  # a zero gate: channel 2 of the block's output is switched off
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.weight[5] = 0.0  # a zero normalisation weight removes the feature too

    def forward(self, x):
        x = self.stem(x)
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
        x = x + self.layer_scale * y
        return self.head(self.head_norm(x.mean((2, 3))))


class TransformerBlock(nn.Module):
    def __init__(self, dim=8, heads=2, vocab_out=5, sdpa=False):
        super().__init__()
        self.heads, self.sdpa = heads, sdpa
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, vocab_out)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        if self.sdpa:
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
            causal = torch.ones(t, t, dtype=torch.bool).triu(1)
            attended = scores.masked_fill(causal, float("-inf")).softmax(dim=-1) @ v
        x = x + self.proj(attended.transpose(1, 2).reshape(b, t, d))
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        return self.head(x)


class SwiGLU(nn.Module):
    def __init__(self, dim=6, hidden=8):
        super().__init__()
        self.gate, self.up, self.down = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False), nn.Linear(hidden, dim)
        self.head = nn.Linear(dim, 4)

    def forward(self, x):
        return self.head(x + self.down(F.silu(self.gate(x)) * self.up(x)))


def test_squeeze_excitation_block():
    _check(_prune(SqueezeExcitation(), seed=1), (3, 5, 5), 1)


def test_channel_shuffle():
    _check(_prune(ChannelShuffle(), seed=2), (3, 5, 5), 1)


def test_convnext_block_with_zero_gates():
    model = _prune(ConvNeXtBlock(), seed=3)
    layered = _check(model, (3, 8, 8), 1)
    # the zero layer-scale entry: pwconv2's unit 2 feeds nothing above it
    unit = layered.starts[list(layered.layers).index("pwconv2")] + 2
    assert unit not in set(layered.source.tolist())


@pytest.mark.parametrize("sdpa", [False, True])
def test_transformer_block_with_causal_attention(sdpa):
    model = _prune(TransformerBlock(sdpa=sdpa), seed=4)
    layered = _check(model, (5, 8), -1)
    # a linear layer on (batch, tokens, features): tokens x non-zero weights
    rank = list(layered.layers).index("fc2")
    into = (layered.target >= layered.starts[rank]) & (layered.target < layered.starts[rank + 1])
    assert layered.multiplicity[into].sum() == 5 * int((_weight(model.fc2) != 0).sum())


def test_swiglu_mlp():
    _check(_prune(SwiGLU(), seed=5), (4, 6), -1)


def test_concatenation_with_a_buffer_keeps_the_offsets_of_later_tensors():
    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.c = nn.Conv2d(1, 2, 1), nn.Conv2d(1, 3, 1)
            self.register_buffer("constant", torch.ones(1, 4, 3, 3))
            self.top = nn.Conv2d(2 + 4 + 3 + 1, 2, 1)
            self.head = nn.Linear(2 * 9, 2)

        def forward(self, x):
            y = torch.cat([self.a(x), self.constant, self.c(x), torch.zeros(1, 1, 3, 3)], dim=1)
            return self.head(self.top(y).flatten(1))

    model = _prune(WithBuffer(), amount=0.3, seed=6)
    layered = _check(model, (1, 3, 3), 1)
    w = _weight(model.top).numpy()[:, :, 0, 0]
    c_units = range(layered.starts[2], layered.starts[3])
    top = layered.starts[3]
    got = {(s, t): m for s, t, m in zip(layered.source.tolist(), layered.target.tolist(), layered.multiplicity.tolist()) if s in c_units}
    # c's channels sit at offsets 6, 7, 8 of the concatenation, after a's 2 and the buffer's 4
    assert got == {(c_units[i], top + o): 9 for o in range(2) for i in range(3) if w[o, 6 + i] != 0}
