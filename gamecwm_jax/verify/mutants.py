"""Mutation testing of the verifier: every rule mutant of a golden must score below 1.0.

`games/<name>/mutants.json` is a list of {"name", "description", "find", "replace"}: `find`
occurs exactly once in the game's golden.py, and the mutant is the golden with that one
replacement. A mutant is *killed* when its score is strictly below 1.0.

    python -m gamecwm_jax.verify.mutants [--game NAME|all|train|test|a,b] [--json OUT] [--fast]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from gamecwm_jax.games import get_game
from gamecwm_jax.games.registry import resolve_games
from gamecwm_jax.verify.config import RewardConfig
from gamecwm_jax.verify.verifier import Verifier


def load_mutants(name: str) -> list[dict[str, Any]]:
    path = get_game(name).path / "mutants.json"
    return json.loads(path.read_text()) if path.exists() else []


def apply_mutant(source: str, mutant: dict[str, Any]) -> str:
    count = source.count(mutant["find"])
    if count != 1:
        raise ValueError(f"mutant {mutant['name']!r}: 'find' occurs {count} times in the golden")
    return source.replace(mutant["find"], mutant["replace"])


def run_mutants(
    games: list[str], verifier: Verifier, seed: int = 0, config: RewardConfig | None = None
) -> dict[str, Any]:
    """Verifies every mutant of `games`; returns per-game results and the kill rate."""
    items, index = [], []
    errors: dict[str, list[str]] = {}
    for name in games:
        source = get_game(name).golden_source
        for mutant in load_mutants(name):
            try:
                items.append((apply_mutant(source, mutant), name))
                index.append((name, mutant))
            except ValueError as e:
                errors.setdefault(name, []).append(str(e))
    start = time.perf_counter()
    reports = verifier.verify_batch(items, seed=seed, config=config)
    elapsed = time.perf_counter() - start
    per_game: dict[str, Any] = {n: {"mutants": [], "killed": 0, "total": 0} for n in games}
    for (name, mutant), report in zip(index, reports):
        killed = report.score < 1.0
        entry = per_game[name]
        entry["total"] += 1
        entry["killed"] += killed
        entry["mutants"].append(
            {
                "name": mutant["name"],
                "score": report.score,
                "killed": killed,
                "tiers": report.tiers,
                "failure": report.failure.to_json() if report.failure else None,
            }
        )
    for name, errs in errors.items():
        per_game[name]["errors"] = errs
    total = sum(g["total"] for g in per_game.values())
    killed = sum(g["killed"] for g in per_game.values())
    return {
        "games": per_game,
        "total": total,
        "killed": killed,
        "kill_rate": killed / total if total else None,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.verify.mutants",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--game", default="all", help="a name, a comma list, train, test or all")
    parser.add_argument("--json", default=None, help="write the full results to this file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast", action="store_true", help="reduced budgets (as in the tests)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per mutant")
    args = parser.parse_args(argv)
    games = resolve_games(args.game)
    config = RewardConfig.fast() if args.fast else RewardConfig()
    with Verifier(num_workers=args.workers, config=config) as verifier:
        result = run_mutants(games, verifier, seed=args.seed)
    print(f"{'game':22s} {'killed':>8s}  survivors")
    for name, g in result["games"].items():
        survivors = [m["name"] for m in g["mutants"] if not m["killed"]]
        print(
            f"{name:22s} {g['killed']:>3d}/{g['total']:<4d}  {', '.join(survivors)}"
            + (f"  errors: {g['errors']}" if g.get("errors") else "")
        )
        if args.verbose:
            for m in g["mutants"]:
                why = m["failure"]["message"][:110] if m["failure"] else ""
                print(f"    {m['score']:.3f} {m['name']:32s} {why}")
    rate = result["kill_rate"]
    print(
        f"kill rate: {result['killed']}/{result['total']}"
        + (f" = {100 * rate:.1f}%" if rate is not None else "")
        + f" ({result['seconds']:.1f}s)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
