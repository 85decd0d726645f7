"""Benchmark: layer_degrees and to_graph on one model of every torchvision classification family
and on transformers' GPT-2, BERT and a Llama-style causal LM.

Every model has random weights (``weights=None``; transformers from a small config) and
50% of its Conv2d/Linear (and transformers' Conv1D) weights pruned by
``torch.nn.utils.prune.global_unstructured`` (L1).  Each model runs in its own process so
that its peak memory is its own: the peak resident memory during a call minus the
resident memory of the built model (Linux VmHWM, reset before each call).  For each model:
layers, nodes, edges, time and peak memory of ``layer_degrees`` and of ``to_graph``, the
bytes per edge of ``to_graph``, the time of ``LayeredGraph.degrees()`` and whether
``layer_degrees == to_graph().degrees()``.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_zoo.py                 # every model, markdown table
    PYTHONPATH=. python benchmarks/bench_zoo.py resnet50 vit_b_16
    PYTHONPATH=. python benchmarks/bench_zoo.py --igraph resnet18  # also time building the igraph graph
    PYTHONPATH=OLD_TREE python benchmarks/bench_zoo.py --baseline resnet50  # another nn2graph version

``BENCH_ZOO_TIMEOUT`` (seconds, default 1200) bounds each model's process.
``--baseline`` measures an nn2graph whose LayeredGraph has no edge arrays (an older
version on PYTHONPATH): its edges are counted on the igraph graph.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

MODELS = {
    "alexnet": (3, 224, 224), "vgg16": (3, 224, 224), "resnet18": (3, 224, 224), "resnet50": (3, 224, 224),
    "resnext50_32x4d": (3, 224, 224), "wide_resnet50_2": (3, 224, 224), "densenet121": (3, 224, 224),
    "googlenet": (3, 224, 224), "inception_v3": (3, 299, 299), "squeezenet1_0": (3, 224, 224),
    "mobilenet_v2": (3, 224, 224), "mobilenet_v3_small": (3, 224, 224), "mnasnet0_5": (3, 224, 224),
    "efficientnet_b0": (3, 224, 224), "efficientnet_v2_s": (3, 384, 384), "regnet_y_400mf": (3, 224, 224),
    "regnet_x_400mf": (3, 224, 224), "shufflenet_v2_x0_5": (3, 224, 224), "convnext_tiny": (3, 224, 224),
    "swin_t": (3, 224, 224), "swin_v2_t": (3, 256, 256), "vit_b_16": (3, 224, 224), "maxvit_t": (3, 224, 224),
    "gpt2": (128,), "bert": (128,), "llama": (128,),
}  # fmt: skip


#: Seconds one model may take (both calls and the equality check).
TIMEOUT_S = int(os.environ.get("BENCH_ZOO_TIMEOUT", "1200"))


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _peak() -> int:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) * 1024


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def build(name: str):
    """The model (random weights, 50% of its weighted layers' weights pruned) and its input dtype."""
    import torch
    from torch import nn
    from torch.nn.utils import prune

    torch.manual_seed(0)
    dtype = None
    if name in ("gpt2", "bert", "llama"):
        import transformers
        from transformers.pytorch_utils import Conv1D

        dtype = torch.long
        if name == "gpt2":  # GPT-2 small's width, 4 of its 12 blocks, a 5k vocabulary
            model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=4, n_embd=768, n_head=12, vocab_size=5000,
                                                                          bos_token_id=0, eos_token_id=0))
        elif name == "bert":
            model = transformers.BertForMaskedLM(transformers.BertConfig(num_hidden_layers=4, vocab_size=5000))
        else:  # Llama-style: RMSNorm, rotary positions, grouped-query attention, SwiGLU
            model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
                num_hidden_layers=4, hidden_size=768, intermediate_size=2048, num_attention_heads=12,
                num_key_value_heads=4, vocab_size=5000, max_position_embeddings=512))  # fmt: skip
        kinds = (nn.Linear, Conv1D)
    else:
        import torchvision

        extra = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        model = getattr(torchvision.models, name)(weights=None, **extra)
        kinds = (nn.Conv2d, nn.Linear)
    model.eval()
    layers = [(m, "weight") for m in model.modules() if isinstance(m, kinds)]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=0.5)
    return model, dtype


def measure(name: str, *, baseline: bool, igraph: bool) -> dict:
    import numpy as np
    import torch

    import nn2graph

    torch.set_num_threads(1)
    model, dtype = build(name)
    shape = MODELS[name]
    kwargs = {} if dtype is None else {"dtype": dtype}
    model_bytes = _rss()
    row = {"model": name, "input": list(shape), "model_rss_gib": model_bytes / 2**30}

    _reset_peak()
    start = time.perf_counter()
    degrees = nn2graph.layer_degrees(model, shape, **kwargs)
    row["layer_degrees_s"] = time.perf_counter() - start
    row["layer_degrees_peak_gib"] = (_peak() - model_bytes) / 2**30
    del degrees  # measured again below, after to_graph, for the equality check

    _reset_peak()
    start = time.perf_counter()
    layered = nn2graph.to_graph(model, shape, **kwargs)
    row["to_graph_s"] = time.perf_counter() - start
    above = _peak() - model_bytes
    row["to_graph_peak_gib"] = above / 2**30
    if baseline:
        edges, nodes = layered.graph.ecount(), layered.graph.vcount()
    else:
        edges, nodes = len(layered.source), int(sum(layered.sizes))
    row.update(layers=len(layered.layers) - 1, nodes=nodes, edges=edges, to_graph_bytes_per_edge=above / max(edges, 1))
    start = time.perf_counter()
    from_graph = layered.degrees()
    row["degrees_s"] = time.perf_counter() - start
    if igraph and not baseline:
        before = _rss()
        _reset_peak()
        start = time.perf_counter()
        layered.graph  # noqa: B018 -- built on first access
        row["igraph_s"] = time.perf_counter() - start
        row["igraph_bytes_per_edge"] = (_peak() - before) / max(edges, 1)
    del layered
    direct = nn2graph.layer_degrees(model, shape, **kwargs)
    row["equal"] = list(direct) == list(from_graph) and all(np.array_equal(direct[k], from_graph[k]) for k in direct)
    return row


def main(argv: list[str]) -> None:
    if argv[:1] == ["--worker"]:
        print(json.dumps(measure(argv[1], baseline="--baseline" in argv, igraph="--igraph" in argv)))
        return
    flags = [a for a in argv if a.startswith("--")]
    names = [a for a in argv if not a.startswith("--")] or list(MODELS)
    with open("/proc/loadavg") as load:
        print(f"load average at start: {load.read().split()[0]} (2-core machine shared with other jobs); one torch thread")
    print("| model | input | layers | nodes | edges | layer_degrees s | layer_degrees peak GiB | to_graph s | "
          "to_graph peak GiB | bytes/edge | degrees() s | equal | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        try:
            done = subprocess.run([sys.executable, __file__, "--worker", name, *flags], capture_output=True, text=True,
                                  env=os.environ, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"| {name} | not finished in {TIMEOUT_S} s |||||||||||| |", flush=True)
            continue
        with open("/proc/loadavg") as load:
            loadavg = load.read().split()[0]
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"| {name} | failed: {tail[:200]} |||||||||||| {loadavg} |", flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        extra = f" igraph {r['igraph_s']:.1f} s, {r['igraph_bytes_per_edge']:.0f} B/edge" if "igraph_s" in r else ""
        print(f"| {name} | {'x'.join(map(str, r['input']))} | {r['layers']} | {r['nodes']:,} | {r['edges']:,} | "
              f"{r['layer_degrees_s']:.1f} | {r['layer_degrees_peak_gib']:.2f} | {r['to_graph_s']:.1f} | "
              f"{r['to_graph_peak_gib']:.2f} | {r['to_graph_bytes_per_edge']:.0f} | {r['degrees_s']:.2f} | "
              f"{r['equal']} | {loadavg} |{extra}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
