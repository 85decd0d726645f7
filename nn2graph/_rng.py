"""The one place where a ``seed`` argument becomes a random generator."""

from __future__ import annotations

import numpy as np

SeedLike = int | np.random.Generator | np.random.SeedSequence | None


def as_generator(seed: SeedLike = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed``.

    Parameters
    ----------
    seed : int, numpy.random.Generator, numpy.random.SeedSequence or None
        ``None`` gives fresh entropy; an int or a seed sequence gives a reproducible
        generator; a generator is returned unchanged (so callers can share one stream).

    Examples
    --------
    >>> bool(as_generator(7).integers(10) == as_generator(7).integers(10))
    True
    >>> g = as_generator(1)
    >>> as_generator(g) is g
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy Generator, a SeedSequence or None, not {type(seed).__name__}")
