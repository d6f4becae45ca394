#!/usr/bin/env python
"""What the study's design can detect, before it runs: simulated power of its pre-registered tests.

    python benchmarks/power_study.py                          # the protocol's design, σ from its pilot
    python benchmarks/power_study.py --seeds 2                # what 2 seeds would give
    python benchmarks/power_study.py --w 5 --s 3 --sigma 4    # another grid, another noise

Planned power, never observed power: σ defaults to the pilot's seed std (PROTOCOL.pilot_seed_std), not to the
std of a run being judged. Prints, for the two-way ANOVA (the primary tests: main effect of w, of s; α = 0.025, the
first Holm step of two): power at spreads of the factor's level means given as multiples of σ, the power at the
protocol's smallest meaningful effect per budget and at every budget at once (simulated with the pilot's
correlation between budgets), and the smallest spread detected at every budget with the target power; for the
paper's correlational form (Spearman over cell means, permutation p): the smallest attainable p and the power at
several true ρ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from pe_bert.study import statistics as st
    from pe_bert.study.hypotheses import minimum_detectable_spread
    from pe_bert.study.protocol import PROTOCOL

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--w", type=int, default=len(PROTOCOL.grid_w), help="levels of w")
    parser.add_argument("--s", type=int, default=len(PROTOCOL.grid_s), help="levels of s")
    parser.add_argument("--seeds", type=int, default=len(PROTOCOL.seeds))
    parser.add_argument("--sigma", type=float, default=PROTOCOL.pilot_seed_std, help="seed std of the outcome")
    parser.add_argument("--budgets", type=int, default=len(PROTOCOL.budget_multiples))
    parser.add_argument("--simulations", type=int, default=4000)
    args = parser.parse_args(argv)
    sigma = args.sigma
    alpha = st.ALPHA / 2
    cells = args.w * args.s
    print(
        f"Design: {args.w} levels of w x {args.s} of s = {cells} cells, {args.seeds} seeds each; seed std "
        f"σ = {sigma:.2f} points; α = {alpha} (first Holm step of the two primary tests)\n"
    )
    print("Two-way ANOVA, main effect of a factor (its level means evenly spread over the given range):")
    print(
        f"{'factor':<8} {'levels':>6} " + " ".join(f"{f'{m:g}σ':>7}" for m in (1, 2, 3, 4, 6)) + f"  {'target at':>9}"
    )
    for name, levels in (("w", (args.w, args.s)), ("s", (args.s, args.w))):
        powers = [
            st.anova_power(levels, args.seeds, m * sigma, sigma, alpha, args.simulations) for m in (1, 2, 3, 4, 6)
        ]
        detectable = minimum_detectable_spread(levels, args.seeds, args.budgets, sigma)
        print(
            f"{name:<8} {levels[0]:>6} "
            + " ".join(f"{p:>7.2f}" for p in powers)
            + f"  {detectable:>6.2f} pts ({detectable / sigma:.1f}σ)"
        )
    print(
        f"\nAt the protocol's smallest meaningful effect, a spread of {PROTOCOL.smallest_effect:g} points (target "
        f"{PROTOCOL.power_target:g}; the pilot's correlation between budgets, {PROTOCOL.pilot_budget_correlation:g}):"
    )
    for name, levels in (("w", (args.w, args.s)), ("s", (args.s, args.w))):
        effect, correlation = PROTOCOL.smallest_effect, PROTOCOL.pilot_budget_correlation
        power = st.anova_power(levels, args.seeds, effect, sigma, alpha, args.simulations)
        every = st.anova_power_at_every_budget(
            levels, args.seeds, effect, sigma, correlation, args.budgets, alpha, args.simulations
        )
        print(f"{name:<8} per budget {power:.3f}; at every one of {args.budgets} budgets {every:.3f}")
    print("\nSpearman ρ over cell means, permutation test (the paper's form):")
    print(
        f"{'points':>6} {'smallest p':>11} {'after Holm':>10} "
        + " ".join(f"{f'ρ={r:g}':>7}" for r in (0.5, 0.6, 0.7, 0.8, 0.9))
    )
    for label, points in ((f"this grid ({cells} cells)", cells), ("old default (5 variants)", 5)):
        bound = st.smallest_permutation_p(points)
        powers = [st.spearman_power(points, r, alpha, args.simulations // 2) for r in (0.5, 0.6, 0.7, 0.8, 0.9)]
        print(
            f"{points:>6} {bound['p']:>11.2g} {min(1.0, 2 * bound['p']):>10.2g} "
            + " ".join(f"{p:>7.2f}" for p in powers)
            + f"   {label}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
