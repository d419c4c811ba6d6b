"""Verifier throughput: python -m gamecwm_jax.bench.verifier [--repeats N] [--workers W]

Measures, on this machine, with the default RewardConfig:
  * the pool's start-up time and the per-candidate sandbox overhead (fork, lock-down,
    load a tiny module, answer, clean up);
  * for small games, a GRPO group of 8 candidates (the golden and up to 7 of its mutants,
    so the mix of passing and failing programs is realistic): seconds per group and
    verifications per second;
  * the whole golden set as one batch.
Each number is the median of --repeats runs after one warm-up (golden traces are computed
once per game and cached, as in training).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from gamecwm_jax.games import get_game, list_games
from gamecwm_jax.verify import RewardConfig, Verifier
from gamecwm_jax.verify.mutants import apply_mutant, load_mutants
from gamecwm_jax.verify.plan import golden_plan, make_job

SMALL_GAMES = ("tic_tac_toe", "kuhn_poker", "matching_pennies", "connect4", "leduc_poker", "pig")


def group_of_eight(name: str) -> list[tuple[str, str]]:
    source = get_game(name).golden_source
    codes = [source]
    for mutant in load_mutants(name)[:7]:
        codes.append(apply_mutant(source, mutant))
    while len(codes) < 8:
        codes.append(source)
    return [(c, name) for c in codes]


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (golden traces, zygote caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(repeats: int = 5, workers: int | None = None) -> dict:
    config = RewardConfig()
    out: dict = {"cpus": os.cpu_count(), "workers": workers or os.cpu_count(), "repeats": repeats}
    start = time.perf_counter()
    verifier = Verifier(num_workers=workers, config=config)
    out["pool_start_s"] = time.perf_counter() - start
    try:
        tiny = "def get_initial_state():\n    return {}\n"
        plan = golden_plan("tic_tac_toe", 0, config)
        job = make_job(tiny, plan, config)
        out["sandbox_overhead_s"] = _median_time(lambda: verifier.pool.run(job), max(repeats, 20))
        groups = {}
        for name in SMALL_GAMES:
            try:
                get_game(name)
            except KeyError:
                continue
            items = group_of_eight(name)
            t = _median_time(lambda items=items: verifier.verify_batch(items), repeats)
            groups[name] = {"group_of_8_s": t, "verifications_per_s": 8 / t}
        out["groups"] = groups
        names = list_games()
        items = [(get_game(n).golden_source, n) for n in names]
        t = _median_time(lambda: verifier.verify_batch(items), max(1, repeats // 2))
        out["golden_set"] = {
            "games": len(names),
            "seconds": t,
            "verifications_per_s": len(names) / t,
        }
        per_game = {}
        for name in names:
            item = [(get_game(name).golden_source, name)]
            per_game[name] = _median_time(lambda item=item: verifier.verify_batch(item), 1)
        out["golden_single_s"] = per_game
    finally:
        verifier.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.bench.verifier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    r = run(args.repeats, args.workers)
    print(f"verifier benchmark: {r['cpus']} CPUs, {r['workers']} workers, median of {r['repeats']}")
    print(f"pool start-up                 {r['pool_start_s']:8.3f} s")
    print(f"sandbox overhead / candidate  {1000 * r['sandbox_overhead_s']:8.1f} ms")
    print(f"{'group of 8 (golden+mutants)':30s} {'s/group':>8s} {'verif/s':>8s}")
    for name, g in r["groups"].items():
        print(f"  {name:28s} {g['group_of_8_s']:8.3f} {g['verifications_per_s']:8.1f}")
    gs = r["golden_set"]
    print(
        f"whole golden set ({gs['games']} games, one batch) {gs['seconds']:.2f} s = "
        f"{gs['verifications_per_s']:.1f} verif/s"
    )
    slow = sorted(r["golden_single_s"].items(), key=lambda kv: -kv[1])[:5]
    print("slowest single goldens: " + ", ".join(f"{n} {t:.2f}s" for n, t in slow))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
