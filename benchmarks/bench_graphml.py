"""Benchmark: write a 10-million-edge layered graph as GraphML (target: <= 60 s).

Baselines, measured in the same run:
- networkx.write_graphml on a 100,000-edge subset, extrapolated linearly to the full graph;
- igraph's own Graph.write_graphml (C) on the full graph, which writes every number as a
  ``double`` (ours keeps integers as ``long``) with ~15 significant digits.

Run: ``python benchmarks/bench_graphml.py [n_edges]`` from the repository root.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import igraph as ig
import networkx as nx
import numpy as np

from nn2graph.gephi import write_graphml


def layered_graph(n_edges: int, seed: int = 0) -> ig.Graph:
    """Four fully connected layers (sizes in ratio 5:4:4:1) with about n_edges edges."""
    scale = np.sqrt(n_edges / 10_000_000)
    widths = [max(1, int(round(w * scale))) for w in (2500, 2000, 2000, 500)]
    offsets = np.cumsum([0] + widths)
    blocks = []
    for i in range(3):
        a = np.arange(offsets[i], offsets[i + 1])
        b = np.arange(offsets[i + 1], offsets[i + 2])
        blocks.append(np.column_stack([np.repeat(a, len(b)), np.tile(b, len(a))]))
    edges = np.concatenate(blocks)
    graph = ig.Graph(n=int(offsets[-1]), edges=edges, directed=True)
    graph.vs["layer"] = [name for name, w in zip(("input", "fc1", "fc2", "out"), widths) for _ in range(w)]
    graph.vs["layer_index"] = [i for i, w in enumerate(widths) for _ in range(w)]
    graph.vs["unit"] = [u for w in widths for u in range(w)]
    rng = np.random.default_rng(seed)
    graph.es["multiplicity"] = rng.integers(1, 26, len(edges)).tolist()
    graph.es["weight"] = rng.normal(size=len(edges)).tolist()
    return graph


def main(n_edges: int = 10_000_000) -> None:
    t0 = time.perf_counter()
    graph = layered_graph(n_edges)
    print(f"built graph: {graph.vcount():,} nodes, {graph.ecount():,} edges in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ours.graphml"
        t0 = time.perf_counter()
        write_graphml(graph, out)
        ours = time.perf_counter() - t0
        size = out.stat().st_size
        out.unlink()
        print(f"nn2graph.gephi.write_graphml: {ours:.1f} s for {graph.ecount():,} edges ({size / 1e9:.2f} GB)"
              f" -> {'OK' if ours <= 60 else 'OVER'} the 60 s target")

        subset = 100_000
        sub = nx.DiGraph()
        sub.add_nodes_from((v, {"layer": graph.vs[v]["layer"], "unit": graph.vs[v]["unit"]})
                           for v in range(graph.vcount()))
        edges = graph.get_edgelist()[:subset]
        mult, weight = graph.es["multiplicity"][:subset], graph.es["weight"][:subset]
        sub.add_edges_from((s, t, {"multiplicity": m, "weight": w}) for (s, t), m, w in zip(edges, mult, weight))
        t0 = time.perf_counter()
        nx.write_graphml(sub, Path(tmp) / "nx.graphml")
        nx_time = (time.perf_counter() - t0) * graph.ecount() / subset
        print(f"networkx.write_graphml: {nx_time:.1f} s extrapolated from {subset:,} edges "
              f"-> ours is {nx_time / ours:.1f}x faster")

        t0 = time.perf_counter()
        graph.write_graphml(str(Path(tmp) / "igraph.graphml"))
        ig_time = time.perf_counter() - t0
        print(f"igraph Graph.write_graphml (C, integers become doubles): {ig_time:.1f} s "
              f"-> ours takes {ours / ig_time:.2f}x its time")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
