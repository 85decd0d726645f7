"""Power tables of analysis.assess_power_law (docs/fits.md).  Run:

    timeout 3000 /work/venv/bin/python benchmarks/power_evidence.py [--seeds 20] [--n-boot 1000] [--paper-boot 100]
        [--only non-power|tpl|untruncated ...]

For each law that is not a power law (tests/power_families.py) at n = 1000 and 3000, and for
truncated power laws at n = 3000, pure and with 15% of the values outside the window, the share
of seeds whose verdict is "supported", with method "widest" (``--n-boot`` sets) and beside it
method "paper" (``--paper-boot`` sets: every set refits the whole search, so fewer; 0 leaves the
"paper" column out).  ``--only`` runs some of the three tables.  Prints
markdown tables, the decisive criteria of the verdicts that are not the expected ones, and the
untruncated fits of Clauset et al.'s data sets.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import assess_power_law  # noqa: E402
from tests.power_families import NON_POWER_LAWS, TPL_CASES, draw_non_power_law, draw_tpl_case  # noqa: E402


def verdicts(draw, seeds, n_boot, paper_boot):
    out = {"widest": [], "paper": []}
    for s in seeds:
        x = draw(s)
        out["widest"].append(assess_power_law(x, n_boot=n_boot, seed=s))
        if paper_boot:
            out["paper"].append(assess_power_law(x, method="paper", n_boot=paper_boot, seed=s, n_jobs=1))
    return out


def share(evs, verdict="supported"):
    return sum(e.verdict == verdict for e in evs), len(evs)


def column(supported, total, invert=False):
    """"k/total (pct%)" of the seeds supported (or, with invert, not supported); "not run" for none."""
    if not total:
        return "not run"
    k = total - supported if invert else supported
    return f"{k}/{total} ({100 * k / total:.0f}%)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--paper-boot", type=int, default=100)
    parser.add_argument("--only", nargs="+", choices=("non-power", "tpl", "untruncated"),
                        default=("non-power", "tpl", "untruncated"))
    args = parser.parse_args()
    seeds = range(args.seeds)
    print(f"load average at start: {os.getloadavg()}; seeds {args.seeds}, widest n_boot {args.n_boot}, "
          f"paper n_boot {args.paper_boot}")
    warnings.simplefilter("ignore", UserWarning)
    t0 = time.time()
    notes = []
    if "non-power" in args.only:
        non_power_table(args, seeds, notes)
    if "tpl" in args.only:
        tpl_table(args, seeds, notes)
    print("\nUnexpected verdicts (widest):")
    print("\n".join(f"- {line}" for line in notes) or "- none")
    if "untruncated" in args.only:
        untruncated_table(args)
    print(f"\n{time.time() - t0:.0f} s; load average at end: {os.getloadavg()}")


def non_power_table(args, seeds, notes) -> None:
    print("\n| law | n | widest: not supported | (rejected / inconclusive) | paper: not supported | "
          "widest: most common reason |\n|---|---|---|---|---|---|")
    for name in NON_POWER_LAWS:
        for n in (1000, 3000):
            res = verdicts(lambda s: draw_non_power_law(name, n, s), seeds, args.n_boot, args.paper_boot)
            w, p = res["widest"], res["paper"]
            sup_w, total = share(w)
            sup_p, total_p = share(p)
            rej, _ = share(w, "rejected")
            reasons = Counter(c.name for e in w if e.verdict != "supported" for c in e.criteria if c.status != "pass")
            top = ", ".join(f"{k} {v}" for k, v in reasons.most_common(2))
            print(f"| {name} | {n} | {column(sup_w, total, True)} | {rej} / {total - sup_w - rej} | "
                  f"{column(sup_p, total_p, True)} | {top} |", flush=True)
            notes += [f"{name} n={n} seed {s}: {e.summary()} [{e.fit.xmin}, {e.fit.xmax}]"
                      for s, e in zip(seeds, w) if e.verdict == "supported"]


def tpl_table(args, seeds, notes) -> None:
    print("\n| alpha | window | outside | widest: supported | paper: supported |\n|---|---|---|---|---|")
    for alpha, xmin, xmax in TPL_CASES:
        for outside in (0.0, 0.15):
            res = verdicts(lambda s: draw_tpl_case(alpha, xmin, xmax, 3000, s, outside), seeds, args.n_boot,
                           args.paper_boot)
            sup_w, total = share(res["widest"])
            sup_p, total_p = share(res["paper"])
            print(f"| {alpha} | [{xmin}, {xmax}] ({math.log10(xmax / xmin):.1f} decades) | {100 * outside:.0f}% | "
                  f"{column(sup_w, total)} | {column(sup_p, total_p)} |", flush=True)
            notes += [f"TPL {alpha} outside {outside} seed {s}: {e.summary()} [{e.fit.xmin}, {e.fit.xmax}]"
                      for s, e in zip(seeds, res["widest"]) if e.verdict != "supported"]


def untruncated_table(args) -> None:
    import powerlaw

    ref = os.path.join(os.path.dirname(powerlaw.__file__), "reference_data")
    print("\n| data | xmin | alpha ± se | n_tail | p | verdict |\n|---|---|---|---|---|---|")
    for name in ("words", "terrorism", "flares"):
        x = np.loadtxt(os.path.join(ref, f"{name}.txt")).astype(np.int64)
        ev = assess_power_law(x, xmax=math.inf, n_boot=args.n_boot, seed=0, n_jobs=2)
        print(f"| {name} | {ev.fit.xmin} | {ev.fit.alpha:.3f} ± {ev.alpha_std_error:.3f} | {ev.fit.n_tail} | "
              f"{ev.pvalue.p_value:.2f} ± {ev.pvalue.std_error:.2f} | {ev.summary()} |", flush=True)


if __name__ == "__main__":
    main()
