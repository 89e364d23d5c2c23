"""Statistics for claims about models, with the training run as the unit.

A prompt's hit or miss is not independent of the run that trained the model: two runs of one recipe differ by more
than their prompts' binomial noise (different pairs drawn, different samples, a different order). So:

- a share gets its exact (Clopper-Pearson) ``interval``;
- within one run, ``paired_change`` compares two checkpoints on the same prompts (McNemar's exact test);
- across runs, ``across_runs`` tests the per-run differences (one per seed) and gives their t interval, and
  ``bootstrap_difference`` resamples runs and then prompts within them; prompts of several runs are never laid end
  to end as if they were independent (tests/test_stats.py shows how often that rejects a true null);
- before a run, ``mde_runs`` and ``mde_paired`` say what a design can detect under a stated assumption, and
  ``min_discordant`` how many changed prompts McNemar's exact test needs before it can reject at all;
- ``holm`` adjusts a family of p-values (Holm's step-down), for the endpoints that are not the named primary one.
"""

from __future__ import annotations

import math
import random
from typing import Optional, Sequence


def hit_share(hits: Sequence[int]) -> Optional[float]:
    return sum(hits) / len(hits) if hits else None


def interval(share: float | None, n: int | None) -> tuple[float, float] | None:
    """The exact (Clopper-Pearson) 95 % interval of a share of n; a Bench share that is an average over samples is
    taken as round(share * n) of its n items (approximate)."""
    if share is None or not n:
        return None
    from scipy.stats import binomtest

    ci = binomtest(round(share * n), n).proportion_ci(0.95, method="exact")
    return ci.low, ci.high


def paired_change(before: Sequence[int], after: Sequence[int]) -> Optional[dict]:
    """The change in a share from ``before`` to ``after`` (hits on the same prompts) with McNemar's exact test:
    of the prompts where the two differ, ``gained`` turned right and ``lost`` turned wrong; p is the two-sided
    binomial probability of a split at least that uneven if both were equally likely. None if not paired."""
    if not before or len(before) != len(after):
        return None
    from scipy.stats import binomtest

    gained = sum(1 for a, b in zip(before, after) if b and not a)
    lost = sum(1 for a, b in zip(before, after) if a and not b)
    p = binomtest(gained, gained + lost, 0.5).pvalue if gained + lost else 1.0
    return {"change": (sum(after) - sum(before)) / len(after), "gained": gained, "lost": lost, "p": p,
            "prompts": len(after)}


def across_runs(differences: Sequence[float], alpha: float = 0.05) -> dict:
    """One difference per run (say arm B's share minus arm A's, same seed, same prompts): their mean, the
    two-sided one-sample t-test of mean 0 and the (1 - alpha) t interval. With one run, or runs that all moved
    by the same amount, there is no spread to test against: p and the interval are None."""
    from scipy import stats

    n = len(differences)
    mean = sum(differences) / n if n else None
    if n < 2:
        return {"runs": n, "mean": mean, "sd": None, "p": None, "interval": None}
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    if sd == 0:  # the t statistic is undefined
        return {"runs": n, "mean": mean, "sd": 0.0, "p": None, "interval": None}
    half = stats.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
    p = float(stats.ttest_1samp(differences, 0.0).pvalue)
    return {"runs": n, "mean": mean, "sd": sd, "p": p, "interval": (mean - half, mean + half)}


def run_differences(a_runs: Sequence[Sequence[int]], b_runs: Sequence[Sequence[int]]) -> list[float]:
    """Per run i: the share of hits of ``b_runs[i]`` minus that of ``a_runs[i]`` (the two arms' runs of one seed)."""
    if len(a_runs) != len(b_runs):
        raise ValueError(f"{len(a_runs)} runs against {len(b_runs)}: the arms' runs pair by seed")
    return [hit_share(b) - hit_share(a) for a, b in zip(a_runs, b_runs)]


def bootstrap_difference(a_runs: Sequence[Sequence[int]], b_runs: Sequence[Sequence[int]], resamples: int = 2000,
                         alpha: float = 0.05, seed: int = 0) -> dict:
    """A percentile interval for the mean per-run difference (B - A), resampling runs (seeds, with replacement)
    and then, within each drawn run, prompts (with replacement, the same prompts for both arms: they are
    paired). Both levels of variation enter the interval. ``p``: twice the smaller share of resampled means on
    either side of 0 (a rough two-sided bootstrap p, at least 1/resamples)."""
    import numpy as np

    observed = run_differences(a_runs, b_runs)  # also checks the pairing
    rng = np.random.default_rng(seed)
    a = [np.asarray(r, dtype=float) for r in a_runs]
    b = [np.asarray(r, dtype=float) for r in b_runs]
    n = len(a)
    means = np.empty(resamples)
    for i in range(resamples):
        diffs = []
        for r in rng.integers(0, n, n):
            idx = rng.integers(0, len(a[r]), len(a[r]))
            diffs.append(b[r][idx].mean() - a[r][idx].mean())
        means[i] = np.mean(diffs)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2 * max(min((means <= 0).mean(), (means >= 0).mean()), 1 / resamples))
    return {"runs": n, "mean": float(np.mean(observed)), "interval": (float(low), float(high)),
            "p": float(p), "resamples": resamples}


def mde_runs(runs: int, sd: float, alpha: float = 0.05, power: float = 0.8) -> Optional[float]:
    """The smallest true mean difference a two-sided one-sample t-test over ``runs`` per-run differences detects
    with ``power`` at ``alpha``, when the differences spread with standard deviation ``sd`` (an assumption stated
    before the run, e.g. from a pilot's seeds). Exact, from the noncentral t distribution."""
    if runs < 2:
        return None
    from scipy import optimize, stats

    df, crit = runs - 1, stats.t.ppf(1 - alpha / 2, runs - 1)

    def shortfall(delta: float) -> float:
        nc = delta / sd * math.sqrt(runs)
        upper, lower = stats.nct.sf(crit, df, nc), stats.nct.cdf(-crit, df, nc)
        # scipy's noncentral t gives NaN far in a tail, where the probability is 1 (upper) or 0 (lower)
        return (1.0 if math.isnan(upper) else upper) + (0.0 if math.isnan(lower) else lower) - power

    return float(optimize.brentq(shortfall, 1e-9 * sd, 1000 * sd))


def mde_paired(prompts: int, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest change in a share McNemar's test on ``prompts`` paired prompts detects with ``power`` at
    ``alpha``, if a share ``discordance`` of the prompts changes its answer (an assumption stated before the
    run), by the normal approximation: (z(1 - alpha/2) + z(power)) * sqrt(discordance / prompts). Below
    ``min_discordant`` changed prompts the exact test cannot reject at all, whatever this says."""
    from scipy.stats import norm

    return (norm.ppf(1 - alpha / 2) + norm.ppf(power)) * math.sqrt(discordance / prompts)


def min_discordant(alpha: float = 0.05) -> int:
    """The fewest changed prompts with which McNemar's exact two-sided test can reach p < alpha (all of them
    one way): 6 at 5 %."""
    m = 1
    while 2 * 0.5 ** m >= alpha:
        m += 1
    return m


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values of a family: compare each to alpha as it is; the family-wise error rate
    stays at most alpha."""
    ordered = sorted(pvalues.items(), key=lambda kv: kv[1])
    m, running, out = len(ordered), 0.0, {}
    for i, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return {name: out[name] for name in pvalues}


def simulated_runs(prompts: int, runs: int, base: float, effect: float, run_sd: float, rng: random.Random,
                   difficulty: Optional[list[float]] = None) -> tuple[list[list[int]], list[list[int]]]:
    """Two arms' hits on the same prompts: each prompt has a hit probability around ``base`` (``difficulty``), each
    run shifts all its prompts by its own N(0, run_sd) (what a seed changes), arm B adds ``effect``. Used to check
    the tests' error rates (tests/test_stats.py) and to size a design before running it."""
    difficulty = difficulty or [min(max(rng.gauss(base, 0.15), 0.0), 1.0) for _ in range(prompts)]

    def run(shift: float) -> list[int]:
        return [int(rng.random() < min(max(q + shift, 0.0), 1.0)) for q in difficulty]

    a = [run(rng.gauss(0, run_sd)) for _ in range(runs)]
    b = [run(effect + rng.gauss(0, run_sd)) for _ in range(runs)]
    return a, b
