"""Go on a 5x5 board (OpenSpiel's `go` with board_size=5, komi 7.5) as a Game Code World Model.

Black (player 0) and white (player 1) alternately place a stone on an empty point or pass.
Captures, no suicide, a simple ko rule; the game ends after two passes in a row, after 50
actions, or when a move repeats an earlier position (positional superko: a draw).
Area (Tromp-Taylor) scoring with komi 7.5 for white.

Points are numbered p = 5 * row + col, row 0 being rank 1 (the bottom row) and col 0 file
"a". The board is a 25-character string indexed by p: "X" black, "O" white, "." empty.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 5
KOMI = 7.5
MAX_ACTIONS = 50  # the game stops after this many actions (passes included)
FILES = "abcde"
STONES = ("X", "O")  # player 0 (black) plays X, player 1 (white) plays O
PASS = "pass"


def _neighbours(p: int) -> list[int]:
    """The on-board points orthogonally next to p."""
    row, col = divmod(p, SIZE)
    result = []
    if row + 1 < SIZE:
        result.append(p + SIZE)
    if col + 1 < SIZE:
        result.append(p + 1)
    if col > 0:
        result.append(p - 1)
    if row > 0:
        result.append(p - SIZE)
    return result


NEIGHBOURS = [_neighbours(p) for p in range(SIZE * SIZE)]


def _name(p: int) -> str:
    return f"{FILES[p % SIZE]}{p // SIZE + 1}"


def _point(name: str) -> int:
    return (int(name[1:]) - 1) * SIZE + FILES.index(name[0])


def get_initial_state() -> State:
    empty = "." * (SIZE * SIZE)
    # positions: every board seen so far (for the superko rule); ko: the point the player
    # to move may not play (simple ko) or None; actions: everything played so far.
    return {"board": empty, "player": 0, "ko": None, "positions": [empty], "actions": [],
            "result": None}


def _chain(board: str, p: int) -> tuple[list[int], set[int]]:
    """The stones connected to the stone on p, and their liberties (empty neighbours)."""
    colour = board[p]
    stones, liberties, todo, seen = [], set(), [p], {p}
    while todo:
        q = todo.pop()
        stones.append(q)
        for n in NEIGHBOURS[q]:
            if board[n] == ".":
                liberties.add(n)
            elif board[n] == colour and n not in seen:
                seen.add(n)
                todo.append(n)
    return stones, liberties


def _is_legal_placement(board: str, p: int, player: int, ko: int | None) -> bool:
    if board[p] != "." or p == ko:
        return False
    own, opponent = STONES[player], STONES[1 - player]
    for n in NEIGHBOURS[p]:
        if board[n] == ".":
            return True  # the new stone has a liberty
    for n in NEIGHBOURS[p]:
        liberties = len(_chain(board, n)[1])
        if board[n] == own and liberties >= 2:
            return True  # joins a chain that keeps another liberty
        if board[n] == opponent and liberties == 1:
            return True  # captures that chain
    return False  # suicide


def get_current_player(state: State) -> int:
    return TERMINAL if state["result"] is not None else state["player"]


def get_player_name(player: int) -> str:
    return {0: "black", 1: "white", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    if state["result"] is not None:
        return []
    board, player, ko = state["board"], state["player"], state["ko"]
    moves = [_name(p) for p in range(SIZE * SIZE) if _is_legal_placement(board, p, player, ko)]
    return moves + [PASS]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in go


def black_score(board: str) -> float:
    """Tromp-Taylor area score: black's stones and territory minus white's, minus komi.

    An empty region (empty points connected through empty neighbours) is a player's
    territory when every stone bordering it has that player's colour."""
    delta = 0
    seen = [False] * (SIZE * SIZE)
    for p in range(SIZE * SIZE):
        if board[p] == "X":
            delta += 1
        elif board[p] == "O":
            delta -= 1
        elif not seen[p]:
            seen[p] = True
            region, todo, borders = 0, [p], set()
            while todo:  # flood-fill the empty region containing p
                q = todo.pop()
                region += 1
                for n in NEIGHBOURS[q]:
                    if board[n] != ".":
                        borders.add(board[n])
                    elif not seen[n]:
                        seen[n] = True
                        todo.append(n)
            if borders == {"X"}:
                delta += region
            elif borders == {"O"}:
                delta -= region
    return delta - KOMI


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    player = state["player"]
    board, ko = state["board"], None
    actions = state["actions"] + [action]
    superko = False
    if action != PASS:
        p = _point(action)
        # played into an "eye": every neighbour is an opponent stone (or the edge)
        in_eye = all(board[n] == STONES[1 - player] for n in NEIGHBOURS[p])
        cells = list(board)
        cells[p] = STONES[player]
        captured = []
        for n in NEIGHBOURS[p]:
            if cells[n] == STONES[1 - player]:
                stones, liberties = _chain("".join(cells), n)
                if not liberties:
                    captured += stones
                    for q in stones:
                        cells[q] = "."
        board = "".join(cells)
        if in_eye and len(captured) == 1:
            ko = captured[0]  # the opponent may not play here on the next move
        superko = board in state["positions"]
    positions = state["positions"] if board in state["positions"] else state["positions"] + [board]
    result = None
    if superko:
        result = [0.0, 0.0]  # a repeated position ends the game as a draw
    elif len(actions) >= MAX_ACTIONS or actions[-2:] == [PASS, PASS]:
        score = black_score(board)
        result = [1.0, -1.0] if score > 0 else [-1.0, 1.0] if score < 0 else [0.0, 0.0]
    return {"board": board, "player": 1 - player, "ko": ko, "positions": positions,
            "actions": actions, "result": result}


def get_rewards(state: State) -> list[float]:
    return list(state["result"]) if state["result"] is not None else [0.0, 0.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see everything, board printed top row (rank 5) first.
    rows = [state["board"][r * SIZE:(r + 1) * SIZE] for r in range(SIZE - 1, -1, -1)]
    obs = {
        "board": rows,
        "to_move": get_current_player(state),
        "ko": _name(state["ko"]) if state["ko"] is not None else None,
        "history": list(state["actions"]),
    }
    return [dict(obs), dict(obs)]
