"""The datasheet generator: exact token counts, budgets and the seed-comparison column."""

from gamecwm_jax.games import get_game, list_games
from gamecwm_jax.games.report import to_markdown


def test_every_training_game_says_how_it_differs_from_the_seed():
    missing = [n for n in list_games("train") if len(get_game(n).seed_diff) < 20]
    assert not missing, f"meta.json lacks a seed_diff: {missing}"


def _row(game: str, seed_diff: str, over: list[str]) -> dict:
    return {
        "game": game,
        "split": "train",
        "tier": 1,
        "information": "perfect",
        "chance": False,
        "scenarios": 3,
        "mutants": 2,
        "openspiel": None,
        "differences": "",
        "seed_diff": seed_diff,
        "prompt_tokens": 900,
        "golden_tokens": 5000,
        "over_budget": over,
        "crosscheck": None,
    }


def test_markdown_row_has_budget_and_seed_columns_as_single_cells():
    rows = [
        _row("a", "Seed: 9x9 | ours 5x5.\nWhy: time.", ["golden + EOS > 4096 (completion budget)"]),
        _row("b", "", []),
    ]
    lines = to_markdown(rows, "").splitlines()
    header = next(ln for ln in lines if ln.startswith("| game |"))
    a = next(ln for ln in lines if ln.startswith("| a |"))
    b = next(ln for ln in lines if ln.startswith("| b |"))
    width = header.count(" | ")
    # An escaped pipe and a newline inside the text must not add or split cells.
    assert a.replace("\\|", "").count(" | ") == width and b.count(" | ") == width
    assert a.endswith(
        "| golden + EOS > 4096 (completion budget) | Seed: 9x9 \\| ours 5x5. Why: time. |"
    )
    assert b.endswith("| 900 | 5000 | fits | — |")
