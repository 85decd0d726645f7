"""Experiments of the paper: data, models, training, pruning and the reproduction runs."""

__all__: list[str] = []
