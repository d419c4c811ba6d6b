"""Converge: a race to the centre of a 5x5 board with stuns, as a Game Code World Model.

The seed's Converge, rule for rule. Player 0 (x) starts on the two top corners, player 1 (o)
on the two bottom corners, x first. A turn moves one piece one square in any of the eight
directions (diagonals included) onto an empty square. Landing next to enemy pieces (eight
neighbours) stuns them: they cannot move on their owner's next turn. The first piece to step
onto the centre square (2,2) wins; after 50 turns without a winner the game is a draw. A
player with no possible move passes. As in the seed, x wins by force in three plies:
(0,0)-(1,1)-(2,2), and o cannot stop it.

Squares are (row, col), both 0-4, row 0 at the top and column 0 at the left.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 5
CENTRE = [2, 2]
MAX_TURNS = 50
MARKS = ("x", "o")  # player 0 plays x and moves first
START = [[[0, 0], [0, 4]], [[4, 0], [4, 4]]]  # x: the top corners; o: the bottom corners
# the eight directions, in row-major order of the target square, so that the moves of a piece
# come out in string order
STEPS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def get_initial_state() -> State:
    return {
        "pieces": [[sq[:] for sq in START[0]], [sq[:] for sq in START[1]]],  # sorted squares
        "stunned": [],  # squares of the mover's pieces that may not move this turn
        "player": 0,
        "turns": 0,  # turns played so far (moves and passes)
        "winner": None,
    }


def get_current_player(state: State) -> int:
    if state["winner"] is not None or state["turns"] >= MAX_TURNS:
        return TERMINAL
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "x", 1: "o", CHANCE: "chance", TERMINAL: "terminal"}[player]


def _moves(state: State, player: int) -> list[Action]:
    """Every step of a non-stunned piece of `player` onto an empty square, in string order."""
    occupied = state["pieces"][0] + state["pieces"][1]
    moves = []
    for r, c in state["pieces"][player]:  # pieces are kept in row-major order
        if [r, c] in state["stunned"]:
            continue
        for dr, dc in STEPS:
            r2, c2 = r + dr, c + dc
            if 0 <= r2 < SIZE and 0 <= c2 < SIZE and [r2, c2] not in occupied:
                moves.append(f"{MARKS[player]}({r},{c})->({r2},{c2})")
    return moves


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    return _moves(state, player) or ["pass"]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in Converge


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    player = state["player"]
    pieces = [[sq[:] for sq in side] for side in state["pieces"]]  # copy: never mutate input
    stunned = []  # a pass stuns nobody; the mover's own stuns have now been served
    winner = None
    if action != "pass":
        src = [int(action[2]), int(action[4])]
        dst = [int(action[9]), int(action[11])]
        mine = pieces[player]
        mine[mine.index(src)] = dst
        mine.sort()
        if dst == CENTRE:
            winner = player
        # enemy pieces on the (up to) eight squares around the landing square are stunned
        stunned = [
            sq for sq in pieces[1 - player] if max(abs(sq[0] - dst[0]), abs(sq[1] - dst[1])) == 1
        ]
    return {
        "pieces": pieces,
        "stunned": stunned,
        "player": 1 - player,
        "turns": state["turns"] + 1,
        "winner": winner,
    }


def get_rewards(state: State) -> list[float]:
    winner = state["winner"]
    if winner is None:
        return [0.0, 0.0]  # still playing, or drawn at the turn limit
    return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see the whole position.
    over = get_current_player(state) == TERMINAL

    def observe() -> dict[str, Any]:
        board = [["."] * SIZE for _ in range(SIZE)]
        for player, mark in enumerate(MARKS):
            for r, c in state["pieces"][player]:
                board[r][c] = mark
        return {
            "board": ["".join(row) for row in board],
            # the stunned pieces of the player to move; nobody is to move once the game is over
            "stunned": [] if over else [sq[:] for sq in state["stunned"]],
            "turns": state["turns"],
            "to_move": get_current_player(state),
        }

    return [observe(), observe()]
