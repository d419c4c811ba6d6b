"""What the golden's answers look like anywhere, for the steps the golden cannot follow.

The semantics tier compares a candidate with the golden state by state, which needs the
golden in the candidate's position. Some faults take that away for good: a board of
another size shows other observations from the first state on, so the golden finds no
move to it and every aspect after it is 0. Faults added after such a one then change
nothing the comparison sees (a notation of its own, losses scored 0), and a program wrong
in three ways scores as one wrong in two. These checks need no position: each of the
candidate's states is checked against the *range* of the golden's answers (every action
string it spells, the reward vectors it gives at a terminal and at other states, the shape
of each player's observation: its keys, the lengths of its lists, the types of its
values), recorded along the golden-driven traces. They are weak (a value in range can be
wrong where it stands), so they take a small share of a candidate-driven game's credit
(`RewardConfig.semantics_range_share`): enough to order programs the position-by-position
comparison no longer tells apart, little enough that no program earns much from them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from gamecwm_jax.games.registry import TERMINAL


def json_shape(value: Any) -> Any:
    """A hashable summary of a JSON value's structure: dict keys, list lengths and the
    shapes of their items, scalar types. A board one larger has other list lengths; an
    observation carrying the state has other keys."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), json_shape(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("list", len(value), tuple(sorted({json_shape(v) for v in value}, key=repr)))
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"  # canonical JSON writes 2.0 as 2: one type for both
    return type(value).__name__


def observation_shape(text: Any) -> Any:
    """The shape of a recorded observation (canonical JSON text); None if it is not one."""
    if not isinstance(text, str) or not text.startswith("{"):
        return None
    try:
        return json_shape(json.loads(text))
    except (ValueError, RecursionError):
        return None


def reward_key(rewards: Any) -> tuple[float, ...] | None:
    """A reward vector as a comparable key (rounded: 1e-9 apart is the same reward)."""
    if not isinstance(rewards, list):
        return None
    try:
        return tuple(round(float(x), 6) for x in rewards)
    except (TypeError, ValueError, OverflowError):
        return None


@dataclasses.dataclass(frozen=True)
class GoldenRanges:
    """The golden's answers along its traces, as sets (see the module docstring)."""

    actions: frozenset[str]  # legal actions and chance outcomes
    rewards_end: frozenset[tuple[float, ...]]  # reward vectors at terminal states
    rewards_mid: frozenset[tuple[float, ...]]  # reward vectors at the other states
    observations: tuple[frozenset, ...]  # per player: the shapes of its observations
    shortest: int = 1  # the fewest states of a golden game that reaches a terminal

    @classmethod
    def from_records(cls, records: list[dict], num_players: int, shortest: int = 1) -> GoldenRanges:
        """From the golden's state records (`_harness.observe`)."""
        actions: set[str] = set()
        ends: set = set()
        mids: set = set()
        obs: list[set] = [set() for _ in range(num_players)]
        for rec in records:
            actions.update(rec.get("l") or [])
            actions.update(a for a, _ in rec.get("c") or [])
            (ends if rec.get("p") == TERMINAL else mids).add(reward_key(rec.get("r")))
            for player, text in enumerate((rec.get("o") or [])[:num_players]):
                obs[player].add(observation_shape(text))
        return cls(
            frozenset(actions),
            frozenset(ends - {None}),
            frozenset(mids - {None}),
            tuple(frozenset(s - {None}) for s in obs),
            shortest,
        )


def _errors(rec: dict) -> dict:
    err = rec.get("err")
    return err if isinstance(err, dict) else {}


def rewards_in_range(rec: dict, gold: dict, ranges: GoldenRanges) -> bool:
    """Whether a state's rewards are a vector the golden gives at such a state (terminal,
    or not), or the golden's own at the same step (`gold`, may be empty)."""
    key = None if "r" in _errors(rec) else reward_key(rec.get("r"))
    table = ranges.rewards_end if rec.get("p") == TERMINAL else ranges.rewards_mid
    return key is not None and (key in table or key == reward_key(gold.get("r")))


def step_credit(cand: dict, gold: dict | None, ranges: GoldenRanges) -> float:
    """One candidate state against the golden's ranges, in [0, 1]: the mean of the share of
    its legal actions the golden spells, whether its rewards are a vector the golden gives
    (at a terminal state or at another), and the share of players whose observation has
    a shape the golden's has. Where the golden is at the same step (`gold`, the golden's
    record there), its own answers there count as in range too, so the golden is always
    fully in range."""
    err = _errors(cand)
    gold = gold or {}
    legal = cand.get("l")
    if "l" in err or not isinstance(legal, list) or not all(isinstance(a, str) for a in legal):
        actions = 0.0
    elif not legal:
        actions = 1.0
    else:
        here = gold.get("l") or ()
        actions = sum(a in ranges.actions or a in here for a in legal) / len(legal)
    rewards = float(rewards_in_range(cand, gold, ranges))
    obs = cand.get("o")
    n = len(ranges.observations)
    if "o" in err or not isinstance(obs, list) or len(obs) != n or n == 0:
        views = 0.0
    else:
        gobs = gold.get("o") or [None] * n
        views = (
            sum(
                text == gobs[i] or observation_shape(text) in ranges.observations[i]
                for i, text in enumerate(obs)
            )
            / n
        )
    return (actions + rewards + views) / 3


def game_credit(
    cstates: list[dict],
    gstates: list[dict],
    moves: list[str],
    length: int,
    ended: bool,
    ranges: GoldenRanges,
) -> float:
    """A candidate-driven game against the golden's ranges, in [0, 1]: half the mean
    `step_credit` of its states out of `length` (a game cut short counts its missing
    states as 0), half whether its last state's rewards are in range (`ended`: the game
    reached a state of its own choosing, terminal or at a length bound the golden's games
    may run to, not a crash or past `max_game_length`);
    all of it scaled by the share of its `moves` the golden spells. A game played in a
    notation of the candidate's own earns nothing here: in-range rewards and views along
    moves the golden never makes show no rule the golden has (issue 9: no credit without
    correct behaviour), and an apply_action that ignores unknown strings would earn them."""
    if not cstates:
        return 0.0
    per_step = [
        step_credit(c, gstates[t] if t < len(gstates) else None, ranges)
        for t, c in enumerate(cstates)
    ]
    gold = gstates[len(cstates) - 1] if len(cstates) <= len(gstates) else {}
    end_ok = ended and rewards_in_range(cstates[-1], gold, ranges)
    spelled = [
        move in ranges.actions or (t < len(gstates) and move in (gstates[t].get("l") or []))
        for t, move in enumerate(moves)
    ]
    scale = sum(spelled) / len(spelled) if spelled else 1.0
    return scale * (0.5 * sum(per_step) / max(length, len(cstates)) + 0.5 * float(end_ok))
