"""Property tests for Y on the seed's side-5 board (15 cells).

OpenSpiel agreement is checked in test_dataset; here the win rule is re-derived with an
independent union-find over the seed's (x, y) coordinates (x = our column, y = our row;
neighbours (x+-1, y), (x, y+-1), (x+1, y-1), (x-1, y+1); sides x = 0, y = 0, x + y = 4),
so a wrong neighbour, side or corner rule in the golden shows up on random games.
"""

from __future__ import annotations

import random

from gamecwm_jax.games import TERMINAL, get_game
from gamecwm_jax.games.play import replay

G = get_game("y").load_golden()
SIDE = 5
CELLS = [(x, y) for y in range(SIDE) for x in range(SIDE - y)]


def _winner_groups(stones: set[tuple[int, int]]) -> bool:
    """Does some group of `stones` touch all three sides? (union-find, side bit masks)"""
    parent = {c: c for c in stones}

    def find(c):
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for x, y in stones:
        for nx, ny in ((x + 1, y), (x, y + 1), (x + 1, y - 1)):  # each edge once
            if (nx, ny) in stones:
                parent[find((x, y))] = find((nx, ny))
    sides: dict[tuple[int, int], int] = {}
    for x, y in stones:
        mask = (x == 0) | (y == 0) << 1 | (x + y == SIDE - 1) << 2
        root = find((x, y))
        sides[root] = sides.get(root, 0) | mask
    return 7 in sides.values()


def _cell(action: str) -> tuple[int, int]:
    """'x(r,c)' -> the seed's (x, y) = (c, r)."""
    return int(action[4]), int(action[2])


def test_start_lists_the_15_cells_row_by_row():
    legal = G.get_legal_actions(G.get_initial_state())
    assert legal == [f"x({y},{x})" for x, y in CELLS]
    assert len(legal) == 15


def test_random_games_end_exactly_when_a_group_touches_three_sides():
    rng = random.Random(0)
    winners = {0: 0, 1: 0}
    for _ in range(400):
        state, stones = G.get_initial_state(), (set(), set())
        while G.get_current_player(state) != TERMINAL:
            player = G.get_current_player(state)
            assert not _winner_groups(stones[0]) and not _winner_groups(stones[1])
            action = rng.choice(G.get_legal_actions(state))
            assert action[0] == "xo"[player]
            stones[player].add(_cell(action))
            state = G.apply_action(state, action)
        mover = player
        assert _winner_groups(stones[mover]) and not _winner_groups(stones[1 - mover])
        assert G.get_rewards(state) == ([1.0, -1.0] if mover == 0 else [-1.0, 1.0])
        assert len(stones[0]) + len(stones[1]) <= 15
        winners[mover] += 1
    assert winners[0] and winners[1]


def test_corner_counts_for_both_sides():
    # x holds the right side (0,4)..(4,0) diagonal minus (4,0): no left side without a corner
    diagonal = ["x(0,4)", "o(0,0)", "x(1,3)", "o(0,1)", "x(2,2)", "o(1,0)", "x(3,1)", "o(2,0)"]
    state = replay(G, diagonal)[-1]
    assert G.get_current_player(state) == 0  # (0,4) gives top + right, but no left yet
    end = G.apply_action(state, "x(4,0)")  # the bottom corner adds the left side
    assert G.get_rewards(end) == [1.0, -1.0]
