"""Generated mutants, coverage suites and the verifier's kill rate on a fresh pool.

    python -m gamecwm_jax.verify.mutate --game tic_tac_toe --list         # the seed-0 pool
    python -m gamecwm_jax.verify.mutate --game tic_tac_toe --write        # select the suite
    python -m gamecwm_jax.verify.mutate --game tic_tac_toe --kill-rate    # fresh pool, seed 1
    python -m gamecwm_jax.verify.mutate --game all --write --kill-rate    # every game
    python -m gamecwm_jax.verify.mutate --table                           # from the files

**Selection** (`--write`): random golden games (seeded, up to `--pool-steps` actions in all)
and the game's scenarios are replayed on the golden under a line tracer
(`golden_coverage.py`) and on every mutant of the seed-`--seed` pool (`ast_mutants.py`)
and of the game's `mutants.json` (each mutant in a subprocess with timeouts,
`mutant_probe.py`). Greedy set cover
(`suite.greedy_cover`) then picks trajectory prefixes that execute every arc the random
games reach and expose every mutant any of them exposes; they go to
`games/<game>/coverage.json` with what they cover and which golden lines no game reached.

`--pool 0` selects against *every* mutant of the golden except a held-out pool (the
first `--fresh-pool` mutants of `--fresh-seed`'s order), which is then the measurement
pool: a train/test split of all mutants rather than two samples of them. Games whose last
survivor differed only in a position no mutant of a sample needed (chess's a-file en
passant) get their suite this way.

**Kill rate** (`--kill-rate`): a *fresh* pool made with `--fresh-seed`, excluding every
mutant of the selection pool, so no mutant it scores was used to select the suite. A mutant
is *behaviour-different* when its trace records (what the semantics tier compares) differ
from the golden's on some trajectory we can find: other random golden games (a seed never
used for selection) plus the suite. The rest are counted *equivalent* and left out of the
denominator; *stillborn* mutants (the module does not import) are left out too and counted.
Every behaviour-different mutant is then scored by the real verifier (`Verifier`, default
`RewardConfig`): killed iff its score is below 1.0. The result is stored in the suite file
(`fresh_pool`) and printed; `--table` prints the table of all games from the files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

from tqdm import tqdm

from gamecwm_jax.games import get_game
from gamecwm_jax.games.play import random_trajectory, replay
from gamecwm_jax.games.registry import Game, resolve_games
from gamecwm_jax.verify import golden_coverage as gc
from gamecwm_jax.verify.ast_mutants import Mutant, generate
from gamecwm_jax.verify.config import RewardConfig
from gamecwm_jax.verify.mutant_probe import ProbeResult, golden_keys, probe
from gamecwm_jax.verify.mutants import apply_mutant, load_mutants
from gamecwm_jax.verify.plan import rng_for
from gamecwm_jax.verify.suite import SUITE_FILE, golden_digest, greedy_cover, read_suite


@dataclasses.dataclass(frozen=True)
class Settings:
    seed: int = 0  # selection pool and selection games
    fresh_seed: int = 1  # the measurement pool and its games
    pool: int = 40  # mutants in the selection pool; 0: all but the held-out fresh pool
    fresh_pool: int = 40  # mutants in the measurement pool
    pool_steps: int = 4000  # actions of random golden play per game (selection or difference)
    min_games: int = 30  # long games get more steps than pool_steps
    max_games: int = 400
    workers: int = 1
    # Exposing games recorded per selection-pool mutant (the probe stops there): enough
    # for the cover to choose a short prefix, and it keeps large pools affordable.
    exposing: int = 3


def random_games(game: Game, golden, tag: str, seed: int, settings: Settings) -> list[list[str]]:
    """Seeded random golden games, played to the end, until `pool_steps` actions in all."""
    games, steps = [], 0
    while len(games) < settings.min_games or (
        steps < settings.pool_steps and len(games) < settings.max_games
    ):
        rng = rng_for(seed, game.name, tag, len(games))
        actions = random_trajectory(golden, rng, game.max_game_length)
        games.append(actions)
        steps += max(len(actions), 1)
    return games


def scenario_games(game: Game, golden) -> list[list[str]]:
    """The scenarios' action sequences that the golden plays (all of them, normally)."""
    out = []
    for scenario in game.scenarios():
        try:
            replay(golden, scenario["actions"])
        except ValueError:
            continue
        out.append(list(scenario["actions"]))
    return out


def selection_pool(source: str, selected: dict[str, Any]) -> list[Mutant]:
    """The mutants a suite is (or was) selected against, from its settings block.

    `{"seed", "pool"}`: the first `pool` mutants of `seed`'s order. `pool == 0`: every
    mutant of `seed`'s order except the held-out pool `{"held_out": {"seed", "size"}}`
    (the first `size` of that seed's order), which the kill rate then measures.
    """
    if selected["pool"]:
        return generate(source, selected["seed"], selected["pool"])
    held = selected.get("held_out")
    if not held:
        raise ValueError("a suite selected with pool 0 must record its held-out pool")
    held_ids = {m.id for m in generate(source, held["seed"], held["size"])}
    return generate(source, selected["seed"], 1 << 30, exclude=frozenset(held_ids))


def _selection_settings(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": settings.seed, "pool": settings.pool}
    if not settings.pool:
        out["held_out"] = {"seed": settings.fresh_seed, "size": settings.fresh_pool}
    return out


def _pool_stats(results: list[ProbeResult]) -> dict[str, int]:
    return {
        "size": len(results),
        "stillborn": sum(r.load_error is not None for r in results),
        "errors": sum(r.error is not None for r in results),
        "behaviour_different": sum(r.different for r in results),
    }


def committed_mutants(name: str) -> dict[str, str]:
    """The game's hand-written rule mutants (mutants.json), name -> source: the suite must
    expose them too, so the verifier's regression list never depends on random luck."""
    source = get_game(name).golden_source
    out = {}
    for mutant in load_mutants(name):
        try:
            out[mutant["name"]] = apply_mutant(source, mutant)
        except ValueError:
            continue  # a stale mutant; tests/verify/test_mutants.py reports it
    return out


def candidate_games(name: str, settings: Settings) -> tuple[list[list[str]], list[dict]]:
    """The games a suite is selected from (scenarios, then seeded random games) and the
    arcs of golden.py each one runs, with the prefix length each arc needs."""
    game = get_game(name)
    golden = game.load_golden()
    candidates = scenario_games(game, golden) + random_games(
        game, golden, "coverage", settings.seed, settings
    )
    filename = f"<golden:{name}>"
    traced = gc.load_traced(game.golden_source, filename)
    arcs = [
        gc.arcs_by_step(traced, filename, a, game.num_players)
        for a in tqdm(candidates, desc=f"{name}: coverage", leave=False)
    ]
    return candidates, arcs


def recount(name: str, settings: Settings) -> dict[str, Any]:
    """The coverage block of a suite file, recomputed without running any mutant."""
    _, arcs = candidate_games(name, settings)
    return gc.coverage_summary(get_game(name).golden_source, set().union(*arcs))


def build_suite(name: str, settings: Settings) -> dict[str, Any]:
    """Selects the coverage suite of `name` (see the module docstring); returns the file."""
    game = get_game(name)
    source = game.golden_source
    golden = game.load_golden()
    n = game.num_players
    candidates, arcs = candidate_games(name, settings)
    selected = _selection_settings(settings)
    mutants = selection_pool(source, selected)
    committed = committed_mutants(name)
    keys = golden_keys(golden, candidates, n)
    sources = [m.source for m in mutants] + list(committed.values())
    with tqdm(total=len(sources), desc=f"{name}: mutants", leave=False) as bar:
        results = probe(sources, candidates, keys, n, settings.workers, bar, settings.exposing)
    needs: list[dict[Any, int]] = [dict(a) for a in arcs]
    ids = [m.id for m in mutants] + [f"committed:{c}" for c in committed]
    for mutant_id, r in zip(ids, results):
        for j, d in enumerate(r.first_diff):
            if d is not None:
                needs[j][("mutant", mutant_id)] = d
    chosen = greedy_cover(needs)
    reached = set().union(*arcs) if arcs else set()
    trajectories = []
    for j, length in chosen:
        kills = sorted(e[1] for e, k in needs[j].items() if isinstance(e[0], str) and k <= length)
        trajectories.append({"actions": candidates[j][:length], "exposes": kills})
    stats = _pool_stats(results[: len(mutants)])
    return {
        "about": (
            "Coverage suite of golden.py, replayed by the semantics tier. Regenerate with "
            f"`python -m gamecwm_jax.verify.mutate --game {name} --write` (see that module)."
        ),
        "golden": golden_digest(source),
        "settings": {**selected, "pool_steps": settings.pool_steps},
        "selection": {
            "games": len(candidates),
            "game_steps": sum(len(a) for a in candidates),
            "mutants": stats,
            "committed_mutants": len(committed),
            "committed_exposed": sum(r.different for r in results[len(mutants) :]),
        },
        "coverage": gc.coverage_summary(source, reached),
        "steps": sum(len(t["actions"]) for t in trajectories),
        "trajectories": trajectories,
    }


def fresh_pool(
    name: str, settings: Settings, selection: dict[str, Any] | None = None
) -> list[Mutant]:
    """The measurement pool: seed `fresh_seed`, no mutant of the selection pool.

    `selection` is the suite file's "settings" (seed and pool size it was selected with):
    the pool to exclude is the one the suite was actually selected against, so scoring a
    suite selected with `--pool 400` without repeating the flag cannot let selection-pool
    mutants into the measurement. None: the pool of `settings`. A suite selected with
    pool 0 leaves only its held-out pool, and only if `settings` asks for that pool."""
    source = get_game(name).golden_source
    used = {m.id for m in selection_pool(source, selection or _selection_settings(settings))}
    return generate(source, settings.fresh_seed, settings.fresh_pool, exclude=frozenset(used))


def kill_rate(
    name: str, settings: Settings, verifier, config: RewardConfig | None = None
) -> dict[str, Any]:
    """Scores the fresh pool of `name` (see the module docstring)."""
    game = get_game(name)
    golden = game.load_golden()
    n = game.num_players
    data = read_suite(game) or {"trajectories": []}
    selected = data.get("settings") or _selection_settings(settings)
    if selected["seed"] == settings.fresh_seed:
        raise ValueError(f"{name}: the suite was selected with seed {settings.fresh_seed}")
    held = selected.get("held_out")
    if not selected["pool"] and held != {"seed": settings.fresh_seed, "size": settings.fresh_pool}:
        raise ValueError(
            f"{name}: the suite was selected against every mutant but the held-out pool "
            f"{held}; measure that pool (--fresh-seed {held['seed']} --fresh-pool "
            f"{held['size']}), every other mutant was used for selection"
        )
    suite = [t["actions"] for t in data["trajectories"]]
    games = random_games(game, golden, "difference", settings.fresh_seed, settings) + suite
    mutants = fresh_pool(name, settings, selected)
    keys = golden_keys(golden, games, n)
    with tqdm(total=len(mutants), desc=f"{name}: fresh mutants", leave=False) as bar:
        # one differing game settles "behaviour-different"
        results = probe([m.source for m in mutants], games, keys, n, settings.workers, bar, 1)
    different = [m for m, r in zip(mutants, results) if r.different and r.load_error is None]
    start = time.perf_counter()
    reports = verifier.verify_batch([(m.source, name) for m in different], config=config)
    seconds = time.perf_counter() - start
    survivors = [
        {"id": m.id, "description": m.description, "score": rep.score}
        for m, rep in zip(different, reports)
        if rep.score >= 1.0
    ]
    stats = _pool_stats(results)
    stats["behaviour_different"] = len(different)
    stats["killed"] = len(different) - len(survivors)
    stats["rate"] = stats["killed"] / len(different) if different else None
    stats["survivors"] = survivors
    stats["equivalent"] = stats["size"] - len(different) - stats["stillborn"] - stats["errors"]
    stats["settings"] = {
        "seed": settings.fresh_seed,
        "excluded_seed": selected["seed"],
        "excluded_pool": selected["pool"],
    }
    stats["verify_s"] = round(seconds, 2)
    return stats


def table(names: list[str]) -> str:
    """The Markdown table of the fresh-pool kill rates stored in the suite files."""
    rows = [
        (
            "| game | selection pool | suite trajectories | suite steps | lines covered "
            "| fresh pool | stillborn | equivalent | behaviour-different | killed | rate |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = [0, 0]
    for name in names:
        suite = read_suite(get_game(name))
        if not suite:
            rows.append(f"| {name} | no suite | | | | | | | | | |")
            continue
        cov = suite["coverage"]
        f = suite.get("fresh_pool")
        pool = suite["settings"]["pool"] or f"all but {suite['settings']['held_out']['size']}"
        lead = (
            f"| {name} | {pool} | {len(suite['trajectories'])} "
            f"| {suite['steps']} "
            f"| {cov['lines_covered']}/{cov['lines']} "
        )
        if not f:
            rows.append(lead + "| not measured | | | | | |")
            continue
        totals[0] += f["behaviour_different"]
        totals[1] += f["killed"]
        rate = "n/a" if f["rate"] is None else f"{100 * f['rate']:.1f}%"
        rows.append(
            lead + f"| {f['size']} | {f['stillborn']} | {f['equivalent']} "
            f"| {f['behaviour_different']} | {f['killed']} | {rate} |"
        )
    if totals[0]:
        rows.append(
            f"| **all** | | | | | | | | {totals[0]} | {totals[1]} "
            f"| {100 * totals[1] / totals[0]:.1f}% |"
        )
    return "\n".join(rows)


def _write(game: Game, data: dict[str, Any]) -> None:
    (game.path / SUITE_FILE).write_text(json.dumps(data, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.verify.mutate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--game", default="all", help="a name, a comma list, train, test or all")
    parser.add_argument("--list", action="store_true", help="print the selection pool")
    parser.add_argument("--write", action="store_true", help="select and write the suite")
    parser.add_argument("--kill-rate", action="store_true", help="score the fresh pool")
    parser.add_argument("--table", action="store_true", help="the kill-rate table (files)")
    parser.add_argument(
        "--recount", action="store_true", help="refresh a suite's coverage figures only"
    )
    parser.add_argument("--seed", type=int, default=Settings.seed)
    parser.add_argument("--fresh-seed", type=int, default=Settings.fresh_seed)
    parser.add_argument(
        "--pool", type=int, default=Settings.pool,
        help="selection pool size; 0: every mutant except the held-out fresh pool",
    )  # fmt: skip
    parser.add_argument("--fresh-pool", type=int, default=Settings.fresh_pool)
    parser.add_argument("--pool-steps", type=int, default=Settings.pool_steps)
    parser.add_argument("--workers", type=int, default=Settings.workers)
    args = parser.parse_args(argv)
    if not (args.list or args.write or args.kill_rate or args.table or args.recount):
        parser.error("say what to do: --list, --write, --kill-rate, --recount and/or --table")
    if args.fresh_seed == args.seed:
        parser.error("--fresh-seed must differ from --seed (the pool must be fresh)")
    names = resolve_games(args.game)
    settings = Settings(
        seed=args.seed,
        fresh_seed=args.fresh_seed,
        pool=args.pool,
        fresh_pool=args.fresh_pool,
        pool_steps=args.pool_steps,
        workers=args.workers,
    )
    verifier = None
    try:
        for name in names:
            game = get_game(name)
            if args.list:
                for m in selection_pool(game.golden_source, _selection_settings(settings)):
                    print(f"{name:16s} {m.id:28s} {m.description}")
            if args.write:
                start = time.perf_counter()
                data = build_suite(name, settings)
                _write(game, data)  # a new suite: --kill-rate measures it anew
                cov = data["coverage"]
                print(
                    f"{name}: {len(data['trajectories'])} trajectories, {data['steps']} steps; "
                    f"lines {cov['lines_covered']}/{cov['lines']} "
                    f"(unreached: {cov['unreached_lines']}); arcs {cov['arcs_reached']}; "
                    f"pool {data['selection']['mutants']} "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
            if args.recount and not args.write:
                suite = read_suite(game)
                if suite is not None:
                    suite["coverage"] = recount(name, settings)
                    _write(game, suite)
            if args.kill_rate:
                suite = read_suite(game)
                if suite is None:
                    print(f"{name}: no {SUITE_FILE}; run --write first", file=sys.stderr)
                    return 2
                if verifier is None:
                    from gamecwm_jax.verify.verifier import Verifier

                    verifier = Verifier(num_workers=args.workers)
                result = kill_rate(name, settings, verifier)
                suite["fresh_pool"] = result
                _write(game, suite)
                rate = "n/a" if result["rate"] is None else f"{100 * result['rate']:.1f}%"
                print(
                    f"{name}: fresh pool {result['size']}, behaviour-different "
                    f"{result['behaviour_different']}, killed {result['killed']} ({rate}); "
                    f"survivors: {[s['description'] for s in result['survivors']]}",
                    flush=True,
                )
        if args.table:
            print(table(names))
    finally:
        if verifier is not None:
            verifier.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
