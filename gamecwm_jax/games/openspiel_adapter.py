"""Wrap any GameCWM module as an OpenSpiel game, so OpenSpiel's planners can play it.

A GameCWM names actions with strings; OpenSpiel wants integer ids. The adapter interns
every action string it meets (chance outcomes included) in a table owned by the game
object, so ids are stable for the life of that game and no action vocabulary has to be
declared up front. Information states are the player's observation/action history
(perfect recall), which is exactly what `resample_history` consumes, so ISMCTS can use the
module's own `resample_history` as its resampler.

    game = from_dataset("kuhn_poker")                   # or from_module(module, meta)
    bot = mcts.MCTSBot(game, 1.4, 200, mcts.RandomRolloutEvaluator(1))
    bot = ismcts.ISMCTSBot(game, evaluator, 1.4, 200); bot.set_resampler(resampler)
"""

from __future__ import annotations

import copy
import itertools
import json
import types
from typing import Any

import pyspiel

from gamecwm_jax.games.registry import CHANCE, TERMINAL, get_game, load_module_from_source

_ids = itertools.count()


class _Interner:
    """Action string <-> int id, growing as new strings are seen."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.strings: list[str] = []

    def id(self, action: str) -> int:
        if action not in self.ids:
            self.ids[action] = len(self.strings)
            self.strings.append(action)
        return self.ids[action]


class CWMGame(pyspiel.Game):
    """An OpenSpiel game whose rules are a GameCWM module."""

    def __init__(
        self,
        module: types.ModuleType,
        *,
        name: str,
        num_players: int,
        imperfect: bool,
        chance: bool,
        max_game_length: int,
        max_distinct_actions: int = 1 << 16,
    ) -> None:
        self.module = module
        self.imperfect = imperfect
        self.actions = _Interner()
        game_type = pyspiel.GameType(
            short_name=f"gamecwm_{name}_{next(_ids)}",
            long_name=f"GameCWM {name}",
            dynamics=pyspiel.GameType.Dynamics.SEQUENTIAL,
            chance_mode=(
                pyspiel.GameType.ChanceMode.EXPLICIT_STOCHASTIC
                if chance
                else pyspiel.GameType.ChanceMode.DETERMINISTIC
            ),
            information=(
                pyspiel.GameType.Information.IMPERFECT_INFORMATION
                if imperfect
                else pyspiel.GameType.Information.PERFECT_INFORMATION
            ),
            utility=pyspiel.GameType.Utility.GENERAL_SUM,
            reward_model=pyspiel.GameType.RewardModel.TERMINAL,
            max_num_players=num_players,
            min_num_players=num_players,
            provides_information_state_string=True,
            provides_information_state_tensor=False,
            provides_observation_string=True,
            provides_observation_tensor=False,
        )
        info = pyspiel.GameInfo(
            num_distinct_actions=max_distinct_actions,
            max_chance_outcomes=max_distinct_actions if chance else 0,
            num_players=num_players,
            min_utility=-1e9,
            max_utility=1e9,
            utility_sum=None,
            max_game_length=max_game_length,
        )
        super().__init__(game_type, info, {})

    def new_initial_state(self) -> "CWMState":
        return CWMState(self, self.module.get_initial_state(), [])

    def make_py_observer(self, iig_obs_type=None, params=None) -> "_Observer":
        perfect_recall = iig_obs_type is None or iig_obs_type.perfect_recall
        return _Observer(perfect_recall)

    def state_from_actions(self, actions: list[str]) -> "CWMState":
        """The state reached by replaying `actions` (strings) from the start."""
        state = self.new_initial_state()
        for a in actions:
            state.apply_action(self.actions.id(a))
        return state


class CWMState(pyspiel.State):
    """An OpenSpiel state holding a GameCWM state plus the action history (as strings)."""

    def __init__(self, game: CWMGame, cwm_state: dict[str, Any], history: list[str]) -> None:
        super().__init__(game)
        self._game_ref = game
        self.cwm_state = cwm_state
        self.action_strings = history

    @property
    def _m(self) -> types.ModuleType:
        return self._game_ref.module

    def current_player(self) -> int:
        player = self._m.get_current_player(self.cwm_state)
        return {CHANCE: pyspiel.PlayerId.CHANCE, TERMINAL: pyspiel.PlayerId.TERMINAL}.get(
            player, player
        )

    def _legal_actions(self, player: int) -> list[int]:
        return sorted(
            self._game_ref.actions.id(a) for a in self._m.get_legal_actions(self.cwm_state)
        )

    def chance_outcomes(self) -> list[tuple[int, float]]:
        return sorted(
            (self._game_ref.actions.id(a), p)
            for a, p in self._m.get_chance_outcomes(self.cwm_state)
        )

    def _apply_action(self, action: int) -> None:
        action_str = self._game_ref.actions.strings[action]
        self.cwm_state = self._m.apply_action(self.cwm_state, action_str)
        self.action_strings = self.action_strings + [action_str]

    def _action_to_string(self, player: int, action: int) -> str:
        return self._game_ref.actions.strings[action]

    def is_terminal(self) -> bool:
        return self._m.get_current_player(self.cwm_state) == TERMINAL

    def returns(self) -> list[float]:
        return [float(r) for r in self._m.get_rewards(self.cwm_state)]

    def observation_history(self, player: int) -> list[dict[str, Any]]:
        """The `obs_action_history` of games/API.md for `player`, from this state's history."""
        from gamecwm_jax.games.play import observation_history

        return observation_history(self._m, self.action_strings, player)

    def clone(self) -> "CWMState":
        # CWM states are never mutated (apply_action is pure), so a clone can share them;
        # OpenSpiel's default clone would pickle through the game registry instead.
        return CWMState(self._game_ref, self.cwm_state, list(self.action_strings))

    def child(self, action: int) -> "CWMState":
        state = self.clone()
        state.apply_action(action)
        return state

    def __deepcopy__(self, memo) -> "CWMState":
        return self.clone()

    def __str__(self) -> str:
        return json.dumps(self.cwm_state, sort_keys=True)


class _Observer:
    """Observation strings: JSON of the player's observation (history with perfect recall)."""

    def __init__(self, perfect_recall: bool) -> None:
        self.perfect_recall = perfect_recall
        self.tensor = None
        self.dict: dict[str, Any] = {}

    def set_from(self, state: CWMState, player: int) -> None:
        pass

    def string_from(self, state: CWMState, player: int) -> str:
        if self.perfect_recall:
            return json.dumps(state.observation_history(player), sort_keys=True)
        return json.dumps(state._m.get_observations(state.cwm_state)[player], sort_keys=True)


def from_module(module: types.ModuleType, name: str, **meta: Any) -> CWMGame:
    """Wrap `module`; `meta` gives num_players, imperfect, chance and max_game_length."""
    return CWMGame(module, name=name, **meta)


def from_dataset(name: str, source: str | None = None) -> CWMGame:
    """Wrap the golden of dataset game `name`, or `source` (e.g. a model's program)."""
    game = get_game(name)
    module = game.load_golden() if source is None else load_module_from_source(source, name)
    return from_module(
        module,
        name,
        num_players=game.num_players,
        imperfect=game.imperfect,
        chance=game.chance,
        max_game_length=game.max_game_length,
    )


def resampler(state: CWMState, player: int) -> CWMState:
    """ISMCTS resampler: a world consistent with `player`'s view, via `resample_history`."""
    game = state._game_ref
    history = copy.deepcopy(state.observation_history(player))
    actions = game.module.resample_history(history, player)
    return game.state_from_actions(list(actions))
