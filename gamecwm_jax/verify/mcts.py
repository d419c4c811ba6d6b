"""A compact UCT planner over any module implementing games/API.md (standard library only).

One definition of "the planner" for the arena (`gamecwm_jax/arena.py`): the sandboxed child
runs it over an untrusted candidate (`_harness.plan`), the trusted process runs it over the
golden (the `golden_mcts` opponent). It imports nothing but the standard library, so the
zygote can load it without site-packages.

`plan_move` rebuilds the agent's position from what its player may know and searches it:

* perfect information: `actions` (the game so far) is replayed with `apply_action`, and
  UCT searches from that state;
* imperfect information: `history` (the player's `obs_action_history`, see games/API.md) is
  handed to the module's `resample_history` once per simulation; each sampled action list
  is replayed into a determinization and one UCT iteration runs from it in a tree shared by
  all of them (determinized UCT / single-observer ISMCTS: children keyed by action string,
  a child's exploration term counts the iterations in which it was available).

Chance nodes are sampled with `get_chance_outcomes`' probabilities; leaves are valued by a
uniformly random rollout to a terminal state (at most `max_rollout_steps` actions, then the
cumulative `get_rewards`). Values are kept per player, each decision maximizes the value of
the player to move, and the exploitation term is normalized by the range of returns seen so
far, so `uct_c` suits games scored in chips as well as +1/-1. The move is the root child
visited most (ties: higher mean value, then the module's order of legal actions).

Anything the module does wrong (a raise, a non-string action, no legal action at a
non-terminal state, malformed rewards) raises out of `plan_move`; the caller decides what a
failed search costs.
"""

from __future__ import annotations

import copy
import math
import random

CHANCE = -1
TERMINAL = -4


class PlannerError(ValueError):
    """The module's answers cannot be searched (malformed or inconsistent)."""


class _Node:
    __slots__ = ("mover", "children", "visits", "available", "totals")

    def __init__(self, mover: int, num_players: int):
        self.mover = mover  # who chose the action leading here (CHANCE for an outcome)
        self.children: dict = {}
        self.visits = 0
        self.available = 0  # iterations in which the action leading here was legal
        self.totals = [0.0] * num_players


def _actions(module, state) -> list:
    legal = module.get_legal_actions(state)
    if type(legal) not in (list, tuple) or not legal:
        raise PlannerError("no legal action at a non-terminal state")
    for a in legal:
        if type(a) is not str:
            raise PlannerError(f"legal action {a!r:.60} is not a string")
    return legal


def _sample_outcome(module, state, rng: random.Random) -> str:
    outcomes = module.get_chance_outcomes(state)
    if type(outcomes) not in (list, tuple) or not outcomes:
        raise PlannerError("no chance outcome at a chance node")
    actions, weights = [], []
    for item in outcomes:
        if (
            type(item) not in (list, tuple)
            or len(item) != 2
            or type(item[0]) is not str
            or type(item[1]) not in (int, float)
            or not item[1] > 0
        ):
            raise PlannerError(f"malformed chance outcome {item!r:.60}")
        actions.append(item[0])
        weights.append(float(item[1]))
    return rng.choices(actions, weights=weights)[0]


def _returns(module, state, num_players: int) -> list:
    rewards = module.get_rewards(state)
    if type(rewards) not in (list, tuple) or len(rewards) < num_players:
        raise PlannerError("get_rewards did not return one number per player")
    out = []
    for r in rewards[:num_players]:
        if type(r) not in (int, float) or not math.isfinite(r):
            raise PlannerError(f"reward {r!r:.60} is not a finite number")
        out.append(float(r))
    return out


def _player(module, state) -> int:
    p = module.get_current_player(state)
    if type(p) is not int:
        raise PlannerError(f"get_current_player returned {p!r:.60}")
    return p


def _rollout(module, state, num_players: int, rng: random.Random, max_steps: int) -> list:
    for _ in range(max_steps):
        p = _player(module, state)
        if p == TERMINAL:
            break
        action = (
            _sample_outcome(module, state, rng)
            if p == CHANCE
            else rng.choice(_actions(module, state))
        )
        state = module.apply_action(state, action)
    return _returns(module, state, num_players)


class UCT:
    """One search tree; `iterate(root_state)` runs one simulation from a (determinized) root."""

    def __init__(
        self,
        module,
        num_players: int,
        rng: random.Random,
        uct_c: float = 1.4,
        max_rollout_steps: int = 1000,
    ):
        self.module = module
        self.n = num_players
        self.rng = rng
        self.c = uct_c
        self.max_rollout_steps = max_rollout_steps
        self.root = _Node(TERMINAL, num_players)
        self.root_legal: list | None = None
        self.lo = math.inf  # range of the returns seen, for normalization
        self.hi = -math.inf

    def _value(self, child: _Node) -> float:
        mean = child.totals[child.mover] / child.visits
        return (mean - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.5

    def _select(self, node: _Node, legal: list) -> str:
        best, best_score = None, -math.inf
        for a in legal:
            child = node.children[a]
            score = self._value(child) + self.c * math.sqrt(
                math.log(child.available) / child.visits
            )
            if score > best_score:
                best, best_score = a, score
        return best

    def iterate(self, state) -> None:
        module, node = self.module, self.root
        path = [node]
        expanded = False
        while True:
            p = _player(module, state)
            if p == TERMINAL:
                break
            if p == CHANCE:
                action = _sample_outcome(module, state, self.rng)
            else:
                legal = _actions(module, state)
                if node is self.root and self.root_legal is None:
                    self.root_legal = list(legal)
                for a in legal:
                    child = node.children.get(a)
                    if child is None:
                        child = node.children[a] = _Node(p, self.n)
                    child.available += 1
                untried = [a for a in legal if node.children[a].visits == 0]
                if untried:
                    action = self.rng.choice(untried)
                    expanded = True
                else:
                    action = self._select(node, legal)
            child = node.children.get(action)
            if child is None:
                child = node.children[action] = _Node(p, self.n)
            node = child
            path.append(node)
            state = module.apply_action(state, action)
            if expanded:
                break
        values = _rollout(module, state, self.n, self.rng, self.max_rollout_steps)
        for v in values:
            self.lo, self.hi = min(self.lo, v), max(self.hi, v)
        for node in path:
            node.visits += 1
            for i, v in enumerate(values):
                node.totals[i] += v

    def best_action(self) -> str:
        if not self.root_legal:
            raise PlannerError("the root has no legal action")
        order = {a: i for i, a in enumerate(self.root_legal)}
        children = [(a, c) for a, c in self.root.children.items() if a in order and c.visits]
        if not children:
            return self.root_legal[0]
        return max(
            children,
            key=lambda ac: (ac[1].visits, ac[1].totals[ac[1].mover] / ac[1].visits, -order[ac[0]]),
        )[0]

    def root_stats(self, top: int = 8) -> list:
        """[(action, visits, mean value for its mover)] of the most visited root children."""
        rows = [
            (a, c.visits, round(c.totals[c.mover] / c.visits, 4))
            for a, c in self.root.children.items()
            if c.visits
        ]
        rows.sort(key=lambda r: -r[1])
        return rows[:top]


def replay(module, actions: list):
    """The state after `actions` from the initial state (apply_action only)."""
    state = module.get_initial_state()
    for action in actions:
        state = module.apply_action(state, action)
    return state


def plan_move(
    module,
    num_players: int,
    player: int,
    simulations: int,
    seed: str,
    *,
    actions: list | None = None,
    history: list | None = None,
    uct_c: float = 1.4,
    max_rollout_steps: int = 1000,
) -> dict:
    """The planner's move for `player`: {"action", "simulations", "root"}.

    Give `actions` (perfect information: the whole game so far) or `history` (imperfect
    information: the player's obs_action_history; the module's `resample_history` samples a
    world per simulation). Randomness comes from `seed` only (the global `random`, which
    resample_history may use, is seeded from it too; callers in a shared process save and
    restore it).
    """
    rng = random.Random(f"{seed}:uct")
    random.seed(f"{seed}:resample")
    tree = UCT(module, num_players, rng, uct_c, max_rollout_steps)
    simulations = max(1, int(simulations))
    if history is None:
        root = replay(module, list(actions or []))
        if _player(module, root) != player:
            raise PlannerError(
                f"the module says player {_player(module, root)} moves, not {player}"
            )
        for _ in range(simulations):
            tree.iterate(root)
    else:
        length = len(history) - 1
        for _ in range(simulations):
            sampled = module.resample_history(copy.deepcopy(history), player)
            if type(sampled) not in (list, tuple) or len(sampled) != length:
                raise PlannerError(f"resample_history did not return {length} actions")
            root = replay(module, list(sampled))
            if _player(module, root) != player:
                raise PlannerError("a resampled world does not have the player to move")
            tree.iterate(root)
    return {"action": tree.best_action(), "simulations": simulations, "root": tree.root_stats()}
