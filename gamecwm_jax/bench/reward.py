"""Reward calibration: python -m gamecwm_jax.bench.reward [--games all] [--chains 12] [--out DIR]
    [--compare-seed] [--config.FIELD=VALUE ...]

Does the reward rank programs by how much of the game they get right? Per game, candidates
are made from the golden by injecting k = 0..5 faults of the kinds real models make
(`gamecwm_jax.verify.faults`: a mutating apply_action, randomness inside a transition,
another action notation, a missing end test, wrong reward values, a getter that raises, a
wrong board size, a leaking observation, a broken resample_history). Each fault is first
verified alone; those that change the game's behaviour (score below 1.0) enter the ladder.
A ladder is `--chains` seeded orders of up to 5 of them; the candidate with k faults of a
chain holds its first k, so every rung adds one fault to the one before. Which faults
come first moves a game's Spearman a lot: with 4 chains it moved by up to 0.15 between
seeds, and weights chosen on 4 chains fell from 17 to 7 games meeting the goals on 12, so
12 is the default (about 7 minutes for all games on 2 cores).

Reported per game: the Spearman correlation of the reward with k over every candidate of
the ladder (goal <= -0.9), the standard deviation of the reward over the ladder (goal >=
0.2), the mean reward per k, the share of rungs where adding a fault lowered the reward,
and what each fault costs alone. `--compare-seed` scores the same ladders with the seed's
weights and gates (`RewardConfig.seed()`); `--config.FIELD=VALUE` sets a `RewardConfig` field. Writes
`reward_calibration.{md,json,png}` to `--out`; the JSON holds every rung's tier scores and
sub-scores (`parts`), so another weighting can be computed without re-running it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from gamecwm_jax.games import get_game
from gamecwm_jax.games.registry import UnknownGameError, resolve_games
from gamecwm_jax.verify import RewardConfig, Verifier
from gamecwm_jax.verify import faults as F
from gamecwm_jax.verify.plan import rng_for

MAX_FAULTS = 5
GOAL_SPEARMAN = -0.9
GOAL_STD = 0.2


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties given their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            out[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (Pearson's on tie-averaged ranks); nan if one side is
    constant."""
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def ladder(name: str, effective: list[str], chains: int, seed: int) -> list[dict[str, Any]]:
    """The golden (k = 0) and, per chain, the candidates with its first k faults."""
    game = get_game(name)
    rungs = [{"chain": None, "k": 0, "faults": [], "code": game.golden_source}]
    orders = F.chains(effective, chains, MAX_FAULTS, rng_for(seed, name, "ladder"))
    for c, order in enumerate(orders):
        for k in range(1, len(order) + 1):
            code = F.inject(game.golden_source, order[:k], game)
            if code is not None:
                rungs.append({"chain": c, "k": k, "faults": order[:k], "code": code})
    return rungs


def _stats(rungs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    ks = [r["k"] for r in rungs]
    scores = [r[key] for r in rungs]
    by_k: dict[int, list[float]] = {}
    for k, s in zip(ks, scores):
        by_k.setdefault(k, []).append(s)
    steps = lowered = 0
    chain_rungs: dict[int, dict[int, float]] = {}
    for r in rungs:
        if r["chain"] is not None:
            chain_rungs.setdefault(r["chain"], {})[r["k"]] = r[key]
    base = next(r[key] for r in rungs if r["k"] == 0)
    for seq in chain_rungs.values():
        prev = base
        for k in sorted(seq):
            steps += 1
            lowered += seq[k] < prev
            prev = seq[k]
    return {
        "spearman": spearman([float(k) for k in ks], scores),
        "std": statistics.pstdev(scores) if len(scores) > 1 else 0.0,
        "mean_by_k": {k: statistics.fmean(v) for k, v in sorted(by_k.items())},
        "lowered": lowered / steps if steps else float("nan"),
    }


def calibrate(
    name: str,
    verifier: Verifier,
    chains: int,
    seed: int,
    config: RewardConfig,
    compare: RewardConfig | None,
) -> dict[str, Any]:
    game = get_game(name)
    singles = {}
    for kind in F.FAULTS:
        code = F.inject(game.golden_source, [kind], game)
        if code is not None:
            singles[kind] = code
    kinds = list(singles)
    reports = verifier.verify_batch([(singles[k], name) for k in kinds], seed=seed, config=config)
    alone = {k: r.score for k, r in zip(kinds, reports)}
    effective = [k for k in kinds if alone[k] < 1.0]
    rungs = ladder(name, effective, chains, seed)
    start = time.perf_counter()
    reports = verifier.verify_batch([(r["code"], name) for r in rungs], seed=seed, config=config)
    seconds = time.perf_counter() - start
    for r, rep in zip(rungs, reports):
        r["score"] = rep.score
        r["tiers"] = rep.tiers
        r["parts"] = parts(rep)
    out = {
        "game": name,
        "candidates": len(rungs),
        "fault_alone": alone,
        "no_effect": [k for k in kinds if alone[k] >= 1.0],
        "not_applicable": [k for k in F.FAULTS if k not in singles],
        "seconds": seconds,
        **_stats(rungs, "score"),
    }
    if compare is not None:
        reports = verifier.verify_batch(
            [(r["code"], name) for r in rungs], seed=seed, config=compare
        )
        for r, rep in zip(rungs, reports):
            r["seed_score"] = rep.score
        out["seed_config"] = _stats(rungs, "seed_score")
    out["rungs"] = [{k: v for k, v in r.items() if k != "code"} for r in rungs]
    return out


def parts(report: Any) -> dict[str, float | None]:
    """The sub-scores a tier is made of (purity and steps of dynamics; golden- and
    candidate-driven games of semantics; resample and leak of information), recorded so
    that other weightings can be computed from a run without re-running it."""
    d = report.details

    def get(tier: str, key: str) -> float | None:
        value = d.get(tier, {}).get(key) if isinstance(d.get(tier), dict) else None
        return float(value) if isinstance(value, (int, float)) else None

    sem = d.get("semantics") if isinstance(d.get("semantics"), dict) else {}
    aspects = {
        f"{side}.{group}": float(v)
        for side in ("golden_aspects", "candidate_aspects")
        for group, v in (sem.get(side) or {}).items()
    }
    return {
        **aspects,
        "static": report.tiers.get("static"),
        "dynamics_steps": get("dynamics", "steps_score"),
        "purity": get("dynamics", "purity"),
        "semantics_golden": get("semantics", "golden_driven"),
        "semantics_candidate": get("semantics", "candidate_driven"),
        "scenarios": report.tiers.get("scenarios"),
        "resample": get("information", "resample"),
        "leak": get("information", "leak"),
    }


def _meets(stats: dict[str, Any]) -> bool:
    return stats["spearman"] <= GOAL_SPEARMAN and stats["std"] >= GOAL_STD


def markdown(results: list[dict[str, Any]], compare: bool) -> str:
    head = "| game | n | Spearman | std | mean reward at k = 0..5 | rungs lowered | goals |"
    rule = "|---|---|---|---|---|---|---|"
    if compare:
        head += " seed config: Spearman / std |"
        rule += "---|"
    lines = [head, rule]
    for r in results:
        means = " / ".join(f"{v:.2f}" for v in r["mean_by_k"].values())
        row = (
            f"| {r['game']} | {r['candidates']} | {r['spearman']:.3f} | {r['std']:.3f} | "
            f"{means} | {100 * r['lowered']:.0f}% | {'met' if _meets(r) else 'missed'} |"
        )
        if compare:
            s = r["seed_config"]
            row += f" {s['spearman']:.3f} / {s['std']:.3f} |"
        lines.append(row)
    lines.append("")
    lines.append(_summary("this reward", results))
    if compare:
        lines.append(_summary("the seed's weights and gates", [r["seed_config"] for r in results]))
    costs: dict[str, list[float]] = {}
    for r in results:
        for k, s in r["fault_alone"].items():
            costs.setdefault(k, []).append(1.0 - s)
    lines.append("")
    lines.append("| fault (alone) | games | mean cost | min | max | no effect in |")
    lines.append("|---|---|---|---|---|---|")
    for k in F.FAULTS:
        if k not in costs:
            continue
        v = costs[k]
        none = [r["game"] for r in results if k in r["no_effect"]]
        lines.append(
            f"| {k} | {len(v)} | {statistics.fmean(v):.3f} | {min(v):.3f} | {max(v):.3f} | "
            f"{', '.join(none) or '-'} |"
        )
    return "\n".join(lines)


def _summary(what: str, stats: list[dict[str, Any]]) -> str:
    rho = [r["spearman"] for r in stats]
    return (
        f"{what}: {sum(map(_meets, stats))}/{len(stats)} games meet both goals (Spearman <= "
        f"{GOAL_SPEARMAN}, std >= {GOAL_STD}); Spearman <= {GOAL_SPEARMAN} in "
        f"{sum(x <= GOAL_SPEARMAN for x in rho)}, median {statistics.median(rho):.3f}; std >= "
        f"{GOAL_STD} in {sum(r['std'] >= GOAL_STD for r in stats)}, median "
        f"{statistics.median(r['std'] for r in stats):.3f}."
    )


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8))
    for r in results:
        ks = list(r["mean_by_k"])
        ax.plot(ks, list(r["mean_by_k"].values()), marker="o", lw=1, ms=3, label=r["game"])
    ax.set_xlabel("injected faults k")
    ax.set_ylabel("mean reward")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("reward along the fault ladder (one line per game)")
    if len(results) <= 12:
        ax.legend(fontsize=7)
    names = [r["game"] for r in results]
    rho = [r["spearman"] for r in results]
    std = [r["std"] for r in results]
    x = range(len(names))
    bx.bar([i - 0.2 for i in x], [-v for v in rho], width=0.4, label="-Spearman(reward, k)")
    bx.bar([i + 0.2 for i in x], std, width=0.4, label="std of reward")
    bx.axhline(-GOAL_SPEARMAN, color="C0", ls="--", lw=1)
    bx.axhline(GOAL_STD, color="C1", ls="--", lw=1)
    bx.set_xticks(list(x))
    bx.set_xticklabels(names, rotation=75, fontsize=7)
    bx.set_ylim(0, 1.05)
    bx.legend(fontsize=8)
    bx.set_title("per game (dashed: goals)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _config_overrides(args: list[str]) -> dict[str, Any]:
    """`--config.NAME=VALUE` arguments as RewardConfig fields (the value parsed as the
    field's type); anything else, or an unknown field, is an error naming the fields."""
    fields = RewardConfig.__dataclass_fields__
    out: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        name = key.removeprefix("--config.")
        if not key.startswith("--config.") or not sep:
            raise ValueError(f"unrecognized argument {arg!r}")
        if name not in fields:
            raise ValueError(f"unknown RewardConfig field {name!r}; fields: {', '.join(fields)}")
        kind = type(getattr(RewardConfig(), name))
        out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.bench.reward",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--games", default="all", help="all, train, test or a,b,c")
    parser.add_argument("--chains", type=int, default=12, help="fault orders per game")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--fast", action="store_true", help="RewardConfig.fast() budgets")
    parser.add_argument(
        "--compare-seed", action="store_true", help="also the seed's weights and gates"
    )
    parser.add_argument("--out", default="outputs/reward_calibration")
    args, rest = parser.parse_known_args(argv)
    try:
        overrides = _config_overrides(rest)
    except ValueError as e:
        parser.error(str(e))
    try:
        names = resolve_games(args.games)
    except UnknownGameError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.chains < 1:
        print("error: --chains must be at least 1", file=sys.stderr)
        return 2
    config = RewardConfig.fast(**overrides) if args.fast else RewardConfig(**overrides)
    compare = None
    if args.compare_seed:
        keep = ("dynamics_rollouts", "semantics_rollouts", "leak_pairs", "step_budget")
        compare = RewardConfig.seed(
            **{k: getattr(config, k) for k in keep}, max_rollout_steps=config.max_rollout_steps
        )
    from tqdm.auto import tqdm

    results = []
    start = time.perf_counter()
    with Verifier(num_workers=args.workers, config=config) as verifier:
        for name in tqdm(names, desc="games", unit="game", file=sys.stderr):
            results.append(calibrate(name, verifier, args.chains, args.seed, config, compare))
    elapsed = time.perf_counter() - start
    table = markdown(results, compare is not None)
    header = (
        f"Reward calibration: {len(names)} games, {args.chains} chains of up to {MAX_FAULTS} "
        f"faults, seed {args.seed}, {'fast' if args.fast else 'default'} budgets; "
        f"{os.cpu_count()} CPUs, {elapsed:.0f} s.\n"
    )
    print(header)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reward_calibration.md").write_text(header + "\n" + table + "\n")
    with open(out / "reward_calibration.json", "w") as f:
        json.dump({"args": vars(args), "seconds": elapsed, "games": results}, f, indent=1)
    plot(results, out / "reward_calibration.png")
    print(f"\nwrote {out}/reward_calibration.{{md,json,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
