"""Benchmark: VGG-16 (random weights, 30% of each layer but the output pruned by |w|).

Prints the time of nn2graph.layer_degrees and nn2graph.to_graph, the peak resident
memory, and their ratios to a naive per-connection Python loop over one layer
(features.28, the last convolution), all measured in the same run.  The naive loop
enumerates every (output position, tap) connection of a few output channels and is
extrapolated to the whole layer by its number of connections; its counts are checked
against nn2graph's.

Run: ``PYTHONPATH=. timeout 900 python benchmarks/bench_graph.py`` from the repository root
(or without PYTHONPATH after ``pip install .``).
"""

from __future__ import annotations

import resource
import time

import numpy as np
import torch
import torchvision
from torch import nn
from torch.nn.utils import prune

from nn2graph import layer_degrees, to_graph
from nn2graph.handlers import conv_connections, effective_weight

NAIVE_LAYER = "features.28"
NAIVE_CHANNELS = 4


def peak_rss_gb() -> float:
    """Peak resident memory of this process (whole run), GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def step_peak_gb() -> float:
    """Peak resident memory since the last :func:`reset_step_peak` (Linux VmHWM), GiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 2**20  # kB


def reset_step_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def rss_gb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**30


def pruned_vgg16() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval()
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and name != "classifier.6":  # output never pruned
            prune.l1_unstructured(module, "weight", amount=0.3)
    return model


def naive_conv(conv: nn.Conv2d, in_hw: tuple[int, int], channels: int) -> tuple[dict, int]:
    """Per-connection loop: multiplicity of (input channel, output channel) for the first channels."""
    w = effective_weight(conv, NAIVE_LAYER).numpy()
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    kh, kw = w.shape[2:]
    out_h = (in_hw[0] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (in_hw[1] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    mult, total = {}, 0
    for o in range(channels):
        for c in range(w.shape[1]):
            for u in range(kh):
                for v in range(kw):
                    if w[o, c, u, v] == 0:
                        continue
                    for i in range(out_h):
                        for j in range(out_w):
                            r, s = i * sh - ph + u * dh, j * sw - pw + v * dw
                            if 0 <= r < in_hw[0] and 0 <= s < in_hw[1]:
                                mult[(c, o)] = mult.get((c, o), 0) + 1
                                total += 1
    return mult, total


def main() -> None:
    torch.set_num_threads(1)
    model = pruned_vgg16()
    shape = (3, 224, 224)
    print(f"VGG-16, random weights, 30% pruned per layer (classifier.6 unpruned), input {shape}, 1 thread")

    conv = model.get_submodule(NAIVE_LAYER)
    start = time.perf_counter()
    naive_mult, naive_total = naive_conv(conv, (14, 14), NAIVE_CHANNELS)
    naive_subset = time.perf_counter() - start
    start = time.perf_counter()
    block = next(conv_connections(conv, effective_weight(conv, NAIVE_LAYER), np.arange(512), 512, (1, 512, 14, 14), (1, 512, 14, 14)))
    handler_time = time.perf_counter() - start
    layer_total = int(block.multiplicity.sum())
    subset = block.target < NAIVE_CHANNELS
    assert dict(zip(zip(block.source[subset].tolist(), block.target[subset].tolist()), block.multiplicity[subset].tolist())) == naive_mult
    naive_layer = naive_subset * layer_total / naive_total
    print(f"naive loop, {NAIVE_LAYER}: {naive_total:,} connections of {NAIVE_CHANNELS} output channels in "
          f"{naive_subset:.2f} s -> {naive_layer:.0f} s extrapolated to all {layer_total:,} connections")
    print(f"nn2graph handler, {NAIVE_LAYER}: {handler_time:.4f} s  (naive / nn2graph = {naive_layer / handler_time:,.0f}x)")

    print(f"memory: the pruned model alone holds {rss_gb():.2f} GiB (weight, weight_orig, weight_mask); "
          f"building it peaked at {peak_rss_gb():.2f} GiB")
    reset_step_peak()
    start = time.perf_counter()
    degrees = layer_degrees(model, shape)
    degrees_time = time.perf_counter() - start
    print(f"layer_degrees: {degrees_time:.2f} s (target <= 10 s), peak RSS during it {step_peak_gb():.2f} GiB; "
          f"naive one-layer loop / layer_degrees of all 16 layers = {naive_layer / degrees_time:,.0f}x")

    reset_step_peak()
    start = time.perf_counter()
    layered = to_graph(model, shape)
    graph_time = time.perf_counter() - start
    g = layered.graph
    print(f"to_graph: {graph_time:.2f} s (target <= 60 s), {g.vcount():,} nodes, {g.ecount():,} edges, "
          f"{sum(g.es['multiplicity']):,} connections; peak RSS during it {step_peak_gb():.2f} GiB, "
          f"whole run {peak_rss_gb():.2f} GiB (target <= 6 GiB); "
          f"naive one-layer loop / to_graph = {naive_layer / graph_time:,.0f}x")
    same = all(np.array_equal(a, b) for a, b in zip(degrees.values(), layered.degrees().values()))
    print(f"layer_degrees == to_graph().degrees(): {same}")


if __name__ == "__main__":
    main()
