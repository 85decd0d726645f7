"""Samples for the power of analysis.assess_power_law: laws that are not power laws, and truncated
power laws with and without values outside their window (tests/test_evidence.py and
benchmarks/power_evidence.py draw the same ones)."""

from __future__ import annotations

import numpy as np

__all__ = ["NON_POWER_LAWS", "TPL_CASES", "draw_non_power_law", "draw_tpl_case"]

#: name -> draw(n, rng); none of them is a power law over any range
NON_POWER_LAWS = {
    "Poisson(100)": lambda n, rng: rng.poisson(100, n),
    "geometric(0.02)": lambda n, rng: rng.geometric(0.02, n),
    "binomial(400, 0.25)": lambda n, rng: rng.binomial(400, 0.25, n),
    "lognormal(4, 0.5)": lambda n, rng: np.rint(rng.lognormal(4.0, 0.5, n)).astype(np.int64),
    "lognormal(2, 1)": lambda n, rng: np.rint(rng.lognormal(2.0, 1.0, n)).astype(np.int64),
    "Poisson(10) + Poisson(100)": lambda n, rng: np.concatenate([rng.poisson(10, n // 2), rng.poisson(100, n - n // 2)]),
}

#: (alpha, xmin, xmax): windows of 1.6 decades
TPL_CASES = [(0.5, 10, 400), (1.5, 10, 400), (2.5, 10, 400)]


def draw_non_power_law(name: str, n: int, seed: int) -> np.ndarray:
    return NON_POWER_LAWS[name](n, np.random.default_rng(seed))


def draw_tpl_case(alpha: float, xmin: int, xmax: int, n: int, seed: int, outside: float = 0.0) -> np.ndarray:
    """n values: a share 1 - outside from the TPL (exact probabilities), the rest outside the
    window, half uniform on [1, xmin - 1] and half log-uniform on [xmax + 1, 10 xmax]."""
    rng = np.random.default_rng(seed)
    n_out = int(round(outside * n))
    k = np.arange(xmin, xmax + 1)
    p = k.astype(np.float64) ** -alpha
    inside = rng.choice(k, size=n - n_out, p=p / p.sum())
    low = rng.integers(1, xmin, n_out // 2)
    high = np.floor(np.exp(rng.uniform(np.log(xmax + 1), np.log(10 * xmax + 1), n_out - n_out // 2))).astype(np.int64)
    return np.concatenate([inside, low, high])
