"""The error of the ``nn2graph reproduce`` targets, one class for all of them."""

from __future__ import annotations

from nn2graph.exceptions import NN2GraphError

__all__ = ["ReproduceError"]


class ReproduceError(NN2GraphError, ValueError):
    """An experiment that cannot run as asked (unknown target, missing weights, invalid settings...)."""
