"""The per-layer degree summary against the graph it summarises."""

import numpy as np

from nn2graph import to_graph
from nn2graph.summary import degree_summary, format_summary
from tests.graph_models import mnist_cnn, prune_all


def test_summary_rows_match_the_graph():
    layered = to_graph(prune_all(mnist_cnn(), 0.7), (1, 28, 28))
    rows = degree_summary(layered)
    g = layered.graph
    assert [r.layer for r in rows] == list(layered.layers)
    assert [r.type for r in rows] == ["Input", "Conv2d", "Conv2d", "Linear", "Linear"]
    assert sum(r.nodes for r in rows) == g.vcount() and sum(r.edges for r in rows) == g.ecount()
    assert sum(r.connections for r in rows) == sum(g.es["multiplicity"])
    degrees = layered.degrees(include_output=True)
    for row in rows:
        assert (row.min_degree, row.max_degree) == (degrees[row.layer].min(), degrees[row.layer].max())
        assert np.isclose(row.mean_degree, degrees[row.layer].mean())
    assert rows[0].edges == 0 and rows[1].connections == rows[0].nodes * rows[0].mean_degree
    lines = format_summary(rows).splitlines()
    assert lines[0].split()[:5] == ["layer", "type", "nodes", "edges", "connections"]
    assert lines[2].split()[:3] == ["0", "Conv2d", "32"]
