"""Our prisoner's dilemma -> an OpenSpiel matrix game with the seed's payoffs (turn-based).

OpenSpiel's `matrix_pd` pays 5/0/10/1; the seed's rules (and the textbook) pay 3/0/5/1, which
is what our rules use, so the cross-check builds that matrix game with
`pyspiel.create_matrix_game` and makes it turn-based. Actions: cooperate 0, defect 1.
"""

# ROW[i][j] / COL[i][j]: payoffs of player 0 / player 1 when player 0 plays i, player 1 j.
ROW = [[3.0, 0.0], [5.0, 1.0]]
COL = [[3.0, 5.0], [0.0, 1.0]]


def load_game():
    import pyspiel

    matrix = pyspiel.create_matrix_game(
        "seed_pd", "Prisoner's dilemma (3/0/5/1)", ["C", "D"], ["C", "D"], ROW, COL
    )
    return pyspiel.convert_to_turn_based(matrix)


def to_openspiel(os_state, state, action: str) -> int:
    return {"cooperate": 0, "defect": 1}[action]
