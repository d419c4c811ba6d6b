"""Evaluation by play: a candidate GameCWM + MCTS plays the true game (the golden).

The Code World Models evaluation: the candidate module is used as the planner's model (UCT,
or determinized UCT / ISMCTS with the candidate's `resample_history` in imperfect-information
games) and plays the *true* game, run by the golden in this (trusted) process, against a
uniformly random player or against the same search run on the golden itself, in every seat.

    from gamecwm_jax.arena import play_matches
    result = play_matches(code, "connect4", opponent="golden_mcts", matches=100,
                          simulations=200, seed=0)
    result.win_rate, result.mean_return, result.illegal_moves

    python -m gamecwm_jax.arena --game NAME --candidate FILE [--opponent random|golden_mcts]
        [--matches N] [--simulations S] [--seed S] [--json]

Safety: the candidate only ever runs in the verifier's sandbox (`verify/sandbox.py`): each of
its moves is one sandbox job (a fresh locked-down child of a warm zygote) with one `plan`
query, carrying only what its player may know: the action history in perfect-information
games, the player's `obs_action_history` computed by the golden in imperfect ones. The
child answers an action string; an action the golden does not allow, a crash, a malformed
answer or a timeout forfeits the move to a uniformly random legal action, and is counted.
The search code is `verify/mcts.py` (standard library only), the same for the candidate in
the sandbox and for the `golden_mcts` opponent here.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import math
import random
import statistics
import sys
import threading
import time
import types
from typing import Any

from gamecwm_jax.games import TERMINAL, get_game
from gamecwm_jax.games.play import choose_action, observation_history
from gamecwm_jax.games.registry import CHANCE, Game
from gamecwm_jax.verify import mcts
from gamecwm_jax.verify.sandbox import SandboxPool, SandboxResult
from gamecwm_jax.verify.source import parse_completion, read_cli_candidate

OPPONENTS = ("random", "golden_mcts")
MOVE_KINDS = ("ok", "illegal", "error", "timeout")
_GLOBAL_RANDOM = threading.Lock()  # the golden's resample_history uses the global `random`


class _Returns:
    """The mean of `returns` (the candidate's) and the half-width of its normal 95% CI."""

    returns: list[float]

    @property
    def mean_return(self) -> float | None:
        return statistics.fmean(self.returns) if self.returns else None

    @property
    def ci95(self) -> float | None:
        n = len(self.returns)
        return 1.96 * statistics.stdev(self.returns) / math.sqrt(n) if n > 1 else None


@dataclasses.dataclass
class SeatStats(_Returns):
    """The candidate's results in one seat (player id)."""

    seat: int
    returns: list[float] = dataclasses.field(default_factory=list)
    wins: int = 0
    draws: int = 0
    losses: int = 0

    @property
    def matches(self) -> int:
        return len(self.returns)

    def add(self, candidate_return: float, best_other: float) -> None:
        self.returns.append(candidate_return)
        if candidate_return > best_other:
            self.wins += 1
        elif candidate_return < best_other:
            self.losses += 1
        else:
            self.draws += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "seat": self.seat,
            "matches": self.matches,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "mean_return": self.mean_return,
            "ci95": self.ci95,
        }


@dataclasses.dataclass
class ArenaResult(_Returns):
    """The candidate agent's record. A match is won / drawn / lost when the candidate's
    return is above / equal to / below the best opponent return (0 in one-player games,
    where there is no opponent to play).

    moves counts the candidate's turns by outcome: ok (its planner's action was legal),
    illegal (not legal in the true game), error (crash or malformed answer), timeout; every
    move but `ok` was forfeited to a uniformly random legal action. `problem` says why the
    candidate could not run at all (then every move is a forfeit and is not sent to the
    sandbox). `failures` holds the first few distinct failure messages.
    """

    game: str
    opponent: str
    simulations: int
    seed: int
    seats: list[SeatStats]
    moves: dict[str, int]
    problem: str | None = None
    failures: list[str] = dataclasses.field(default_factory=list)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    def _total(self, field: str) -> int:
        return sum(getattr(s, field) for s in self.seats)

    matches = property(lambda self: self._total("matches"))
    wins = property(lambda self: self._total("wins"))
    draws = property(lambda self: self._total("draws"))
    losses = property(lambda self: self._total("losses"))

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.matches if self.matches else None

    @property
    def returns(self) -> list[float]:
        return [r for s in self.seats for r in s.returns]

    @property
    def candidate_moves(self) -> int:
        return sum(self.moves.values())

    @property
    def illegal_moves(self) -> int:
        return self.moves["illegal"]

    @property
    def forfeits(self) -> int:
        return self.candidate_moves - self.moves["ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "game": self.game,
            "opponent": self.opponent,
            "simulations": self.simulations,
            "seed": self.seed,
            "matches": self.matches,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "win_rate": self.win_rate,
            "mean_return": self.mean_return,
            "ci95": self.ci95,
            "seats": [s.to_json() for s in self.seats],
            "moves": dict(self.moves),
            "illegal_moves": self.illegal_moves,
            "forfeits": self.forfeits,
            "problem": self.problem,
            "failures": list(self.failures),
            "timings": dict(self.timings),
        }

    def summary(self) -> str:
        def fmt(mean, ci):
            if mean is None:
                return "n/a"
            return f"{mean:+.3f}" + (f" ± {ci:.3f}" if ci is not None else "")

        lines = [
            f"{self.game}: candidate+MCTS({self.simulations}) vs {self.opponent}, seed {self.seed}",
            f"  all     : {self.matches} matches  W/D/L {self.wins}/{self.draws}/{self.losses}"
            f"  mean return {fmt(self.mean_return, self.ci95)}",
        ]
        for s in self.seats:
            lines.append(
                f"  seat {s.seat:<3d}: {s.matches} matches  W/D/L {s.wins}/{s.draws}/"
                f"{s.losses}  mean return {fmt(s.mean_return, s.ci95)}"
            )
        lines.append(
            "  candidate moves: "
            + ", ".join(f"{k} {v}" for k, v in self.moves.items())
            + f"  (forfeited {self.forfeits})"
        )
        if self.problem:
            lines.append(f"  problem: {self.problem}")
        for f in self.failures:
            lines.append(f"  failure: {f}")
        lines.append("  timings: " + ", ".join(f"{k}={v:.3f}s" for k, v in self.timings.items()))
        return "\n".join(lines)


@dataclasses.dataclass
class _Match:
    seat: int
    returns: list[float]
    moves: dict[str, int]
    failures: list[str]
    candidate_s: float
    opponent_s: float
    opponent_moves: int


class _Arena:
    """Everything one `play_matches` call shares between its (threaded) matches."""

    def __init__(
        self,
        code: str | None,
        problem: str | None,
        game: Game,
        opponent: str,
        simulations: int,
        seed: int,
        pool: SandboxPool | None,
        move_timeout_s: float,
        memory_mb: int,
        give_up_after: int,
        rollout_steps: int | None,
    ):
        self.code = code
        self.problem = problem
        self.game = game
        self.golden = game.load_golden()
        self.opponent = opponent
        self.simulations = simulations
        self.seed = seed
        self.pool = pool
        self.move_timeout_s = move_timeout_s
        self.memory_mb = memory_mb
        self.give_up_after = give_up_after
        self.rollout_steps = max(1, rollout_steps or game.max_game_length)
        self._lock = threading.Lock()

    # -- what a player may know -------------------------------------------------------------
    def _information(self, actions: list[str], player: int) -> dict[str, Any]:
        if self.game.imperfect:
            return {"history": observation_history(self.golden, actions, player)}
        return {"actions": list(actions)}

    # -- the candidate, in the sandbox -----------------------------------------------------
    def _job(self, query: dict[str, Any]) -> dict[str, Any]:
        wall = 2 * self.move_timeout_s + 1.0  # loading, then the search, each under query_s
        return {
            "code": self.code,
            "required": list(self.game.required_functions),
            "num_players": self.game.num_players,
            "seed": f"{self.seed}:{self.game.name}:arena",
            "queries": [query],
            "limits": {
                "cpu_s": wall + 1.0,
                "wall_s": wall,
                "query_s": self.move_timeout_s,
                "memory_mb": self.memory_mb,
                "file_mb": 1,
                "output_mb": 1,
            },
        }

    def _set_problem(self, problem: str) -> None:
        with self._lock:
            self.problem = self.problem or problem

    def candidate_move(
        self, actions: list[str], player: int, legal: list[str], key: str
    ) -> tuple[str | None, str, str | None]:
        """(action or None, move kind, failure message) from the sandboxed planner."""
        if self.problem is not None:
            return None, "error", None
        query = {
            "kind": "plan",
            "player": player,
            "simulations": self.simulations,
            "seed": key,
            "max_rollout_steps": self.rollout_steps,
            **self._information(actions, player),
        }
        result = self.pool.run(self._job(query))
        try:
            return self._read(result, legal)
        except Exception as e:  # noqa: BLE001 - only frames a candidate forged get here
            return None, "error", f"malformed answer from the sandbox ({type(e).__name__})"

    def _read(self, result: SandboxResult, legal: list[str]) -> tuple[str | None, str, str | None]:
        frames = result.frames
        end = result.end
        if (end is not None and end.get("timeout")) or result.stopped == "timeout":
            return None, "timeout", "the candidate timed out"
        loaded = frames[0] if frames and isinstance(frames[0], dict) and "ok" in frames[0] else None
        if loaded is None:
            why = end.get("crash") if end is not None and end.get("crash") else result.stopped
            return None, "error", f"no answer from the sandbox ({why})"
        if not loaded.get("ok"):  # the module does not load: no later move will either
            self._set_problem(f"the candidate does not load: {loaded.get('error')}")
            return None, "error", None
        funcs = (loaded.get("probe") or {}).get("funcs") or {}
        missing = (
            sorted(k for k, v in funcs.items() if v == "missing") if isinstance(funcs, dict) else []
        )
        if missing:
            self._set_problem(f"incomplete API: missing {missing}")
            return None, "error", None
        answer = frames[1] if len(frames) > 1 and frames[1] is not end else None
        if not isinstance(answer, dict):
            why = end.get("crash") if end is not None and end.get("crash") else result.stopped
            return None, "error", f"no answer from the planner ({why})"
        action = answer.get("action")
        if answer.get("error") is not None or action is None:
            return None, "error", f"planner error: {str(answer.get('error'))[:300]}"
        if type(action) is not str:
            return None, "error", f"planner answered a non-string {str(action)[:80]}"
        if action not in legal:
            return None, "illegal", f"illegal action {action[:80]!r}"
        return action, "ok", None

    # -- the opponent, trusted -------------------------------------------------------------
    def opponent_move(
        self, actions: list[str], player: int, legal: list[str], rng: random.Random, key: str
    ) -> str:
        if self.opponent == "random":
            return rng.choice(legal)
        with _GLOBAL_RANDOM:
            saved = random.getstate()
            try:
                out = mcts.plan_move(
                    self.golden,
                    self.game.num_players,
                    player,
                    self.simulations,
                    key,
                    max_rollout_steps=self.rollout_steps,
                    **self._information(actions, player),
                )
            finally:
                random.setstate(saved)
        return out["action"]

    # -- one match -------------------------------------------------------------------------
    def play(self, index: int) -> _Match:
        golden, n = self.golden, self.game.num_players
        seat = index % n
        base = f"{self.seed}:{self.game.name}:{self.opponent}:{index}"
        # duplicate format: the n matches of one round (the candidate in each seat) and
        # every opponent share the chance seed, so seats see the same deals and dice
        chance_rng = random.Random(f"{self.seed}:{self.game.name}:{index // n}:chance")
        opponent_rng = random.Random(f"{base}:opponent")
        forfeit_rng = random.Random(f"{base}:forfeit")
        moves = dict.fromkeys(MOVE_KINDS, 0)
        failures: list[str] = []
        candidate_s = opponent_s = 0.0
        opponent_moves = 0
        timeouts_in_a_row = 0
        state = golden.get_initial_state()
        actions: list[str] = []
        while golden.get_current_player(state) != TERMINAL:
            if len(actions) > self.game.max_game_length:
                raise RuntimeError(f"{self.game.name}: the golden exceeded max_game_length")
            player = golden.get_current_player(state)
            key = f"{base}:{len(actions)}"
            if player == CHANCE:
                action = choose_action(golden, state, chance_rng)
            elif player == seat:
                legal = golden.get_legal_actions(state)
                t0 = time.perf_counter()
                if timeouts_in_a_row >= self.give_up_after:
                    action, kind, failure = None, "timeout", None
                else:
                    action, kind, failure = self.candidate_move(actions, player, legal, key)
                candidate_s += time.perf_counter() - t0
                timeouts_in_a_row = timeouts_in_a_row + 1 if kind == "timeout" else 0
                moves[kind] += 1
                if failure and failure not in failures and len(failures) < 5:
                    failures.append(failure)
                if action is None:
                    action = forfeit_rng.choice(legal)
            else:
                legal = golden.get_legal_actions(state)
                t0 = time.perf_counter()
                action = self.opponent_move(actions, player, legal, opponent_rng, key)
                opponent_s += time.perf_counter() - t0
                opponent_moves += 1
            state = golden.apply_action(state, action)
            actions.append(action)
        returns = [float(r) for r in golden.get_rewards(state)]
        return _Match(seat, returns, moves, failures, candidate_s, opponent_s, opponent_moves)


def play_matches(
    candidate_source: str,
    game: str,
    *,
    opponent: str = "random",
    matches: int = 100,
    simulations: int = 200,
    seed: int = 0,
    pool: SandboxPool | None = None,
    workers: int | None = None,
    move_timeout_s: float = 10.0,
    memory_mb: int = 1024,
    give_up_after: int = 3,
    rollout_steps: int | None = None,
    progress: bool = True,
) -> ArenaResult:
    """Plays `matches` games of the true `game` between the candidate (a completion or a
    module source) + MCTS and `opponent`; match i seats the candidate as player
    i % num_players, and matches i // num_players share their chance seed (the same deals
    in every seat). Deterministic given `seed` (whatever `workers`).

    pool: a SandboxPool to reuse (e.g. `Verifier().pool`); otherwise one with `workers`
    zygotes (default 2) is made and closed here. move_timeout_s bounds each candidate move
    (loading the module and the search are each given that long); after `give_up_after`
    timeouts in a row, the candidate's remaining moves in that match are forfeited as
    timeouts without running it. rollout_steps caps each MCTS rollout (both agents; then
    the cumulative rewards value the leaf); default: the game's max_game_length.
    """
    if opponent not in OPPONENTS:
        raise ValueError(f"opponent must be one of {OPPONENTS}, not {opponent!r}")
    spec = get_game(game)
    start = time.perf_counter()
    source = parse_completion(candidate_source)
    problem = source.problem
    own_pool = None
    if problem is None and pool is None:
        pool = own_pool = SandboxPool(workers or 2)
    arena = _Arena(
        source.code if problem is None else None,
        problem,
        spec,
        opponent,
        simulations,
        seed,
        pool,
        move_timeout_s,
        memory_mb,
        give_up_after,
        rollout_steps,
    )
    threads = max(1, workers or (pool.num_workers if pool is not None else 1))
    results: list[_Match | None] = [None] * matches
    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as executor:
            futures = {executor.submit(arena.play, i): i for i in range(matches)}
            bar = _progress(matches, f"{game} vs {opponent}", progress)
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
            bar.close()
    finally:
        if own_pool is not None:
            own_pool.close()
    seats = [SeatStats(p) for p in range(spec.num_players)]
    moves = dict.fromkeys(MOVE_KINDS, 0)
    failures: list[str] = []
    candidate_s = opponent_s = 0.0
    opponent_moves = 0
    for m in results:
        others = [r for p, r in enumerate(m.returns) if p != m.seat]
        seats[m.seat].add(m.returns[m.seat], max(others, default=0.0))
        for k, v in m.moves.items():
            moves[k] += v
        failures += [f for f in m.failures if f not in failures]
        candidate_s += m.candidate_s
        opponent_s += m.opponent_s
        opponent_moves += m.opponent_moves
    cand_moves = sum(moves.values())
    timings = {
        "total_s": time.perf_counter() - start,
        "candidate_move_s": candidate_s / cand_moves if cand_moves else 0.0,
        "opponent_move_s": opponent_s / opponent_moves if opponent_moves else 0.0,
    }
    return ArenaResult(
        spec.name, opponent, simulations, seed, seats, moves, arena.problem, failures[:5], timings
    )


def _progress(total: int, desc: str, enabled: bool):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        enabled = False
    if not enabled:
        return types.SimpleNamespace(update=lambda n: None, close=lambda: None)
    return tqdm(total=total, desc=desc, unit="match", leave=False, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.arena",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--game", required=True)
    parser.add_argument(
        "--candidate", required=True, help="a file with a completion or a module ('-' for stdin)"
    )
    parser.add_argument("--opponent", choices=OPPONENTS, default="random")
    parser.add_argument("--matches", type=int, default=100)
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--move-timeout", type=float, default=10.0, help="seconds per move")
    parser.add_argument(
        "--rollout-steps",
        type=int,
        default=None,
        help="cap on MCTS rollout length (default: the game's length bound)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    text = read_cli_candidate(args.candidate, args.game)
    if text is None:
        return 2
    result = play_matches(
        text,
        args.game,
        opponent=args.opponent,
        matches=args.matches,
        simulations=args.simulations,
        seed=args.seed,
        workers=args.workers,
        move_timeout_s=args.move_timeout,
        rollout_steps=args.rollout_steps,
        progress=not args.quiet,
    )
    print(json.dumps(result.to_json(), indent=2) if args.json else result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
