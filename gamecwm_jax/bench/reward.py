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

Reported per game, two ways: ladder by ladder (each chain with the golden is one ladder,
one candidate per k: its Spearman correlation of the reward with k, goal <= -0.9, and its
standard deviation of the reward, goal >= 0.2; a game meets the goals if every ladder
does, whatever order the faults come in) and pooled over all of the game's rungs (one
correlation, which asks more: that the faults cost about alike, since a cheap fault at k =
3 of one ladder otherwise ranks above a dear one at k = 1 of another). Also the mean
reward per k, the share of rungs where adding a fault lowered the reward, and what each
fault costs alone. `--compare-seed` scores the same ladders with the seed's
weights and gates (`RewardConfig.seed()`); `--config.FIELD=VALUE` sets a `RewardConfig` field. Writes
`reward_calibration.{md,json,png}` to `--out`; the JSON holds every rung's tier scores and
sub-scores (`parts`), so another weighting can be computed without re-running it;
`--from that.json` summarizes a recorded run again without verifying anything, and
`--from that.json --config.reward_exponent=X` rescores it under another exponent first
(exact: the exponent applies to the weighted mean of the recorded tiers).
"""

from __future__ import annotations

import argparse
import itertools
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
from gamecwm_jax.verify.verifier import tier_mean

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


def _sequences(rungs: list[dict[str, Any]], key: str) -> dict[int, list[tuple[int, float]]]:
    """Each chain's ladder as (k, score) pairs: the golden, then the chain's rungs by k."""
    base = next((0, r[key]) for r in rungs if r["k"] == 0)
    by_chain: dict[int, list[dict[str, Any]]] = {}
    for r in rungs:
        if r["chain"] is not None:
            by_chain.setdefault(r["chain"], []).append(r)
    return {c: [base] + sorted((r["k"], r[key]) for r in rs) for c, rs in sorted(by_chain.items())}


def _ladder(chain: int, seq: list[tuple[int, float]]) -> dict[str, Any]:
    """One ladder judged on its own: Spearman of the reward with k, std, both goals met."""
    scores = [s for _, s in seq]
    rho = spearman([float(k) for k, _ in seq], scores)
    std = statistics.pstdev(scores)
    return {"chain": chain, "spearman": rho, "std": std, "met": _meets_goals(rho, std)}


def _stats(rungs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Both views of a game's ladders: pooled over every rung of every chain (`spearman`,
    `std`) and chain by chain (`ladders`, `ladders_met`, the worst ladder's figures)."""
    ks = [r["k"] for r in rungs]
    scores = [r[key] for r in rungs]
    by_k: dict[int, list[float]] = {}
    for k, s in zip(ks, scores):
        by_k.setdefault(k, []).append(s)
    sequences = _sequences(rungs, key)
    steps = sum(len(seq) - 1 for seq in sequences.values())
    lowered = sum(b < a for seq in sequences.values() for (_, a), (_, b) in itertools.pairwise(seq))
    ladders = [_ladder(c, seq) for c, seq in sequences.items()]
    return {
        "spearman": spearman([float(k) for k in ks], scores),
        "std": statistics.pstdev(scores) if len(scores) > 1 else 0.0,
        "mean_by_k": {k: statistics.fmean(v) for k, v in sorted(by_k.items())},
        "lowered": lowered / steps if steps else float("nan"),
        "ladders": ladders,
        "ladders_met": sum(x["met"] for x in ladders),
        # nan (an all-equal ladder) counts as the worst
        "worst_ladder_spearman": max((_nan_high(x["spearman"]) for x in ladders), default=1.0),
        "worst_ladder_std": min((x["std"] for x in ladders), default=0.0),
    }


def _nan_high(x: float) -> float:
    return 1.0 if math.isnan(x) else x


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
        sandbox = rep.details.get("sandbox") or {}
        if not sandbox.get("finished", True):
            r["stopped"] = sandbox.get("stopped")  # a time limit: a loaded machine?
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


def _meets_goals(rho: float, std: float) -> bool:
    return rho <= GOAL_SPEARMAN and std >= GOAL_STD  # False for a nan Spearman


def _meets(stats: dict[str, Any]) -> bool:
    """Both goals pooled over the game's ladders: the faults must cost about alike."""
    return _meets_goals(stats["spearman"], stats["std"])


def _every_ladder(stats: dict[str, Any]) -> bool:
    """Both goals on every one of the game's ladders: every added fault lowers the reward
    enough, whatever the order the faults come in."""
    return bool(stats["ladders"]) and stats["ladders_met"] == len(stats["ladders"])


def markdown(results: list[dict[str, Any]], compare: bool) -> str:
    head = (
        "| game | n | ladders meeting both goals | worst ladder: Spearman / std | pooled: "
        "Spearman / std | mean reward at k = 0..5 | rungs lowered | every ladder | pooled |"
    )
    rule = "|---|---|---|---|---|---|---|---|---|"
    if compare:
        head += " seed config: ladders met / pooled Spearman |"
        rule += "---|"
    lines = [head, rule]
    for r in results:
        means = " / ".join(f"{v:.2f}" for v in r["mean_by_k"].values())
        row = (
            f"| {r['game']} | {r['candidates']} | {r['ladders_met']}/{len(r['ladders'])} | "
            f"{r['worst_ladder_spearman']:.3f} / {r['worst_ladder_std']:.3f} | "
            f"{r['spearman']:.3f} / {r['std']:.3f} | {means} | {100 * r['lowered']:.0f}% | "
            f"{'met' if _every_ladder(r) else 'missed'} | {'met' if _meets(r) else 'missed'} |"
        )
        if compare:
            s = r["seed_config"]
            row += f" {s['ladders_met']}/{len(s['ladders'])} / {s['spearman']:.3f} |"
        lines.append(row)
    lines.append("")
    lines.append(_summary("this reward", results))
    if compare:
        lines.append("")
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
    ladders = [x for r in stats for x in r["ladders"]]
    return (
        f"{what}, ladder by ladder: {sum(map(_every_ladder, stats))}/{len(stats)} games meet "
        f"both goals (Spearman <= {GOAL_SPEARMAN}, std >= {GOAL_STD}) on every ladder; "
        f"{sum(x['met'] for x in ladders)}/{len(ladders)} ladders meet both.\n"
        f"{what}, pooled over each game's ladders: {sum(map(_meets, stats))}/{len(stats)} games "
        f"meet both goals; Spearman <= {GOAL_SPEARMAN} in "
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
    bx.bar([i - 0.2 for i in x], [-v for v in rho], width=0.4, label="-Spearman, pooled")
    bx.bar([i + 0.2 for i in x], std, width=0.4, label="std, pooled")
    worst = [-r["worst_ladder_spearman"] for r in results]
    bx.scatter([i - 0.2 for i in x], worst, color="k", marker="_", s=60, zorder=3,
               label="-Spearman, worst ladder")  # fmt: skip
    bx.scatter([i + 0.2 for i in x], [r["worst_ladder_std"] for r in results], color="k",
               marker="x", s=14, zorder=3, label="std, worst ladder")  # fmt: skip
    bx.axhline(-GOAL_SPEARMAN, color="C0", ls="--", lw=1)
    bx.axhline(GOAL_STD, color="C1", ls="--", lw=1)
    bx.set_xticks(list(x))
    bx.set_xticklabels(names, rotation=75, fontsize=7, ha="right", rotation_mode="anchor")
    bx.set_ylim(0, 1.3)
    bx.legend(fontsize=7, loc="upper center", ncol=2)
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
    parser.add_argument(
        "--from",
        dest="source",
        metavar="JSON",
        help="summarize a recorded run's reward_calibration.json again (its rungs, no "
        "verification) into --out",
    )
    args, rest = parser.parse_known_args(argv)
    try:
        overrides = _config_overrides(rest)
        RewardConfig(**overrides)  # a bad value fails here, with the field's own message
    except ValueError as e:
        parser.error(str(e))
    if args.source:
        if set(overrides) - {"reward_exponent"}:
            parser.error(
                "--from re-reads recorded tier scores; of the config only "
                f"--config.reward_exponent can be applied to them, not {sorted(overrides)}"
            )
        return resummarize(Path(args.source), Path(args.out), overrides.get("reward_exponent"))
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
    run = {
        "args": vars(args),
        "seconds": elapsed,
        "cpus": os.cpu_count(),
        "reward_config": config.to_dict(),
        "games": results,
    }
    write(run, Path(args.out), compare is not None)
    stopped = [
        f"{g['game']} chain {r['chain']} k={r['k']} ({r['stopped']})"
        for g in results
        for r in g["rungs"]
        if r.get("stopped")
    ]
    if stopped:
        # a candidate the sandbox stopped scores what it answered before; on a machine
        # busy with other jobs that can be a time limit, not the candidate
        print(
            f"warning: {len(stopped)} candidates stopped before they finished: "
            + "; ".join(stopped[:10]),
            file=sys.stderr,
        )
    return 0


def _header(run: dict[str, Any]) -> str:
    a = run["args"]
    return (
        f"Reward calibration: {len(run['games'])} games, {a['chains']} chains of up to "
        f"{MAX_FAULTS} faults, seed {a['seed']}, {'fast' if a.get('fast') else 'default'} "
        f"budgets; {run.get('cpus', '?')} CPUs, {run['seconds']:.0f} s; reward exponent "
        f"{_recorded_config(run).reward_exponent:g}"
        + (f" (rescored from {run['rescored_from']:g})" if "rescored_from" in run else "")
        + ".\n"
    )


def write(run: dict[str, Any], out: Path, compare: bool) -> None:
    """The table (stdout and .md), the JSON with every rung, the PNG."""
    table = markdown(run["games"], compare)
    print(_header(run))
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reward_calibration.md").write_text(_header(run) + "\n" + table + "\n")
    with open(out / "reward_calibration.json", "w") as f:
        json.dump(run, f, indent=1)
    plot(run["games"], out / "reward_calibration.png")
    print(f"\nwrote {out}/reward_calibration.{{md,json,png}}")


def _recorded_config(run: dict[str, Any]) -> RewardConfig:
    """The reward a run was made with; runs before session 11 did not record it: they
    used today's tier weights (unchanged since session 7) and no exponent (1)."""
    # fields added since a run was made: the value that does what the reward did then
    before = {
        "semantics_range_share": 0.0,  # session 12's range checks
        "range_step_budget": 0,  # session 13's golden games for the range's end rewards
    }
    if "reward_config" in run:
        return RewardConfig.from_dict(before | run["reward_config"])
    # (commit c3d7d64 recorded the exponent alone)
    return RewardConfig(reward_exponent=float(run.get("reward_exponent", 1.0)), **before)


def rescore(run: dict[str, Any], exponent: float) -> None:
    """Every rung's score (and each fault's alone) under another `reward_exponent`, from
    the recorded tiers: a score is mean ** exponent times the stub factor, so it is
    multiplied by mean ** (new - old), the mean taken with the run's own weights."""
    recorded = _recorded_config(run)
    old = recorded.reward_exponent
    for game in run["games"]:
        for r in game["rungs"]:
            mean = tier_mean(r["tiers"], recorded)
            r["score"] = r["score"] * mean ** (exponent - old) if mean > 0 else 0.0
        # faults alone record only their scores; none is stubbed, so score = mean ** old
        game["fault_alone"] = {
            k: max(v, 0.0) ** (exponent / old) for k, v in game["fault_alone"].items()
        }
    run["reward_config"] = recorded.replace(reward_exponent=exponent).to_dict()
    run["rescored_from"] = old


def resummarize(source: Path, out: Path, exponent: float | None = None) -> int:
    """Recomputes every statistic of a recorded run from its rungs' scores (a run made
    before a statistic existed gains it), rescored under `exponent` if given, and writes
    the table, JSON and PNG to `out`."""
    try:
        run = json.loads(source.read_text())
        if exponent is not None:
            rescore(run, exponent)
        for game in run["games"]:
            game.update(_stats(game["rungs"], "score"))
            if "seed_config" in game:
                game["seed_config"] = _stats(game["rungs"], "seed_score")
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as e:
        print(f"error: {source} is not a readable reward_calibration.json ({e!r})", file=sys.stderr)
        return 2
    write(run, out, any("seed_config" in g for g in run["games"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
