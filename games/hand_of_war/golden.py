"""Hand of War (the seed's 16-card battle) as a Game Code World Model.

Sixteen cards, J < Q < K < A in four suits, are split into two face-down draw piles of 8.
Each player holds 3 cards; every round player 0 and then player 1 play one card face down,
the stronger card takes both plus the pot into its owner's win pile and both refill to 3;
equal cards go to the pot, each player burns a pile card into it and they play again. The
game ends when a player has to draw or burn from an empty pile; the larger win pile wins.

Nobody ever looks into a draw pile, so a pile is only a count and each card drawn into a
hand is a chance event uniform over the cards not yet drawn (burned cards stay unseen).
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
RANKS = "JQKA"  # strength = index + 1
CARDS = [r + s for r in RANKS for s in "shdc"]
ORDER = {c: i for i, c in enumerate(CARDS)}
HAND = 3


def _sorted(cards: list[str]) -> list[str]:
    return sorted(cards, key=ORDER.__getitem__)


def get_initial_state() -> State:
    return {
        "drawn": [],  # every card drawn into a hand so far, in order
        "hands": [[], []],
        "piles": [8, 8],  # draw pile sizes
        "won": [0, 0],  # win pile sizes
        "pot": 0,
        "table": [None, None],  # face-down cards of the current round
        "rounds": [],  # resolved rounds [card of player 0, card of player 1]
        "refill": True,  # a refill (or the setup) is in progress
        "over": False,
    }


def _settle(state: State) -> State:
    """Finish or stop a refill: the game ends when the next drawer's pile is empty."""
    if state["refill"]:
        for p in (0, 1):
            if len(state["hands"][p]) < HAND:
                state["over"] = state["piles"][p] == 0
                return state
        state["refill"] = False
    return state


def get_current_player(state: State) -> int:
    if state["over"]:
        return TERMINAL
    if state["refill"]:
        return CHANCE
    return 0 if state["table"][0] is None else 1


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    left = [c for c in CARDS if c not in state["drawn"]]
    return [(f"deal {c}", 1.0 / len(left)) for c in left]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    return [f"play {c}" for c in state["hands"][player]]


def apply_action(state: State, action: Action) -> State:
    player = get_current_player(state)
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    card = action.split(" ", 1)[1]
    new = {k: list(v) if isinstance(v, list) else v for k, v in state.items()}
    new["hands"] = [list(h) for h in state["hands"]]
    if player == CHANCE:
        p = 0 if len(new["hands"][0]) < HAND else 1
        new["drawn"].append(card)
        new["hands"][p] = _sorted(new["hands"][p] + [card])
        new["piles"][p] -= 1
        return _settle(new)
    new["hands"][player].remove(card)
    new["table"][player] = card
    if player == 0:
        return new
    a, b = new["table"]
    sa, sb = RANKS.index(a[0]), RANKS.index(b[0])
    new["rounds"].append([a, b])
    new["table"] = [None, None]
    if sa != sb:
        new["won"][0 if sa > sb else 1] += 2 + new["pot"]
        new["pot"] = 0
        new["refill"] = True
        return _settle(new)
    new["pot"] += 2
    for p in (0, 1):  # burn, player 0 first
        if new["piles"][p] == 0:
            new["over"] = True
            return new
        new["piles"][p] -= 1
        new["pot"] += 1
    new["over"] = not new["hands"][0]  # three ties in a row empty both hands
    return new


def get_rewards(state: State) -> list[float]:
    a, b = state["won"]
    if not state["over"] or a == b:
        return [0.0, 0.0]
    return [1.0, -1.0] if a > b else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    return [
        {
            "to_move": to_move,
            "hand": list(state["hands"][p]),
            "my_card": state["table"][p],
            "opponent_played": state["table"][1 - p] is not None,
            "draw_piles": list(state["piles"]),
            "won": list(state["won"]),
            "pot": state["pot"],
            "rounds": [list(r) for r in state["rounds"]],
        }
        for p in (0, 1)
    ]


def resample_history(obs_action_history: list[dict[str, Any]], player_id: int) -> list[Action]:
    """A full action list consistent with what `player_id` observed.

    Our own draws show up in our hand and every resolved round shows the opponent's card.
    Each card the opponent played must have been drawn by them before that play: those
    cards take the opponent's earliest draws (in order of play), a card still face down
    at the end is any unseen card, and the opponent's other draws are unseen cards at random.
    """
    me, opp = player_id, 1 - player_id
    final = obs_action_history[-1]["observation"]
    seen = set(final["hand"]) | {c for r in final["rounds"] for c in r}
    actions: list[Any] = []
    slots: list[int] = []  # indices of the opponent's draws
    needed: list[tuple[int, str]] = []  # (index of the opponent's play, card it played)
    for t, entry in enumerate(obs_action_history[:-1]):
        obs, nxt = entry["observation"], obs_action_history[t + 1]["observation"]
        if obs["to_move"] == me:
            actions.append(entry["action"])
        elif obs["to_move"] == CHANCE:
            mine = [c for c in nxt["hand"] if c not in obs["hand"]]
            seen.update(mine)
            actions.append(f"deal {mine[0]}" if mine else None)
            if not mine:
                slots.append(t)
        else:
            r = len(obs["rounds"])
            needed.append((t, final["rounds"][r][opp] if r < len(final["rounds"]) else None))
            actions.append(None)
    pool = [c for c in CARDS if c not in seen]
    random.shuffle(pool)
    needed = [(t, c if c is not None else pool.pop()) for t, c in needed]
    for (t, card), slot in zip(needed, slots):  # plays are in time order: earliest draws
        actions[t] = f"play {card}"
        actions[slot] = f"deal {card}"
    for slot in slots[len(needed) :]:
        actions[slot] = f"deal {pool.pop()}"
    return actions
