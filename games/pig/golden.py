"""Pig (two players, to 100 points, at most 200 decisions) as a Game Code World Model.

On their turn a player repeatedly rolls a six-sided die, adding each roll to a turn
total, until they either stop (banking the turn total into their score) or roll a 1
(losing the turn total). The first player whose banked score reaches 100 wins. Each die
roll is an explicit chance node with six equally likely faces. After 200 player
decisions (rolls and stops, not counting the dice) the game ends at once as a draw; random
play almost never gets there (at most 189 decisions in 2,000 random games), the cap only
bounds the game's length.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
NUM_PLAYERS = 2
WIN_SCORE = 100
HORIZON = 200  # the game ends after this many "roll"/"stop" decisions
FACES = 6
FACE_ACTIONS = [f"die={face}" for face in range(1, FACES + 1)]


def get_initial_state() -> State:
    return {
        "scores": [0] * NUM_PLAYERS,  # banked points of each player
        "turn_total": 0,  # points collected this turn, not yet banked
        "turn_player": 0,  # whose turn it is
        "rolling": False,  # True when the die is in the air (a chance node)
        "decisions": 0,  # "roll"/"stop" actions taken so far
    }


def _is_over(state: State) -> bool:
    return state["decisions"] >= HORIZON or max(state["scores"]) >= WIN_SCORE


def get_current_player(state: State) -> int:
    if _is_over(state):
        return TERMINAL
    return CHANCE if state["rolling"] else state["turn_player"]


def get_player_name(player: int) -> str:
    if player == CHANCE:
        return "chance"
    if player == TERMINAL:
        return "terminal"
    return f"player {player}"


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return list(FACE_ACTIONS)
    # With enough points to win, the only sensible (and only legal) move is to bank them.
    if state["scores"][player] + state["turn_total"] >= WIN_SCORE:
        return ["stop"]
    return ["roll", "stop"]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    return [(a, 1.0 / FACES) for a in FACE_ACTIONS]


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    new = dict(state)  # shallow copy; "scores" is copied below before it changes
    next_player = (state["turn_player"] + 1) % NUM_PLAYERS
    if action == "roll":
        new["rolling"] = True
        new["decisions"] += 1
    elif action == "stop":
        scores = list(state["scores"])
        scores[state["turn_player"]] += state["turn_total"]
        new.update(scores=scores, turn_total=0, turn_player=next_player, decisions=state["decisions"] + 1)
    else:  # a die face
        face = int(action.split("=")[1])
        new["rolling"] = False
        if face == 1:  # pig out: the turn total is lost and the turn passes
            new.update(turn_total=0, turn_player=next_player)
        else:
            new["turn_total"] = state["turn_total"] + face
    return new


def get_rewards(state: State) -> list[float]:
    if max(state["scores"]) >= WIN_SCORE:
        winner = state["scores"].index(max(state["scores"]))
        return [1.0 if p == winner else -1.0 for p in range(NUM_PLAYERS)]
    return [0.0] * NUM_PLAYERS  # game still running, or ended at the horizon: a draw


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see everything.
    obs = {
        "scores": list(state["scores"]),
        "turn_total": state["turn_total"],
        "turn_player": state["turn_player"],
        "to_move": get_current_player(state),
        "decisions": state["decisions"],
    }
    return [dict(obs, scores=list(obs["scores"])) for _ in range(NUM_PLAYERS)]
