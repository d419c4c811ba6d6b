"""The prompt builder: every game yields a complete prompt, SFT pairs, token lengths."""

import pytest

from gamecwm_jax.games import get_game, list_games
from gamecwm_jax.games.prompts import build_prompt, golden_completion, sft_pairs, token_lengths
from gamecwm_jax.games.registry import UnknownGameError, resolve_games


@pytest.mark.parametrize("name", list_games())
def test_prompt_holds_rules_interface_and_instructions(name):
    game = get_game(name)
    prompt = build_prompt(name)
    assert game.rules.strip() in prompt
    for fn in game.required_functions:
        assert f"def {fn}(" in prompt, fn
    assert ("resample_history" in prompt) == game.imperfect
    assert "standard library" in prompt and "```python" in prompt


def test_sft_pairs_are_train_games_with_fenced_goldens():
    pairs = sft_pairs("train")
    assert [n for n, _, _ in pairs] == list_games("train")
    for name, prompt, completion in pairs:
        assert completion.startswith("```python\n") and completion.endswith("\n```")
        assert get_game(name).golden_source.strip() in completion
        assert prompt == build_prompt(name)


def test_token_lengths_approximate_without_tokenizer():
    rows = token_lengths(split="all")
    assert {r["game"] for r in rows} == set(list_games())
    assert all(
        r["prompt_tokens"] > 100 and r["golden_tokens"] > 50 and not r["exact"] for r in rows
    )


def test_token_lengths_with_a_tokenizer():
    class WordTokenizer:  # stands in for a transformers tokenizer: same call convention
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": text.split()}

    row = token_lengths(WordTokenizer(), split="tic_tac_toe")[0]
    assert row["exact"] and row["golden_tokens"] == len(golden_completion("tic_tac_toe").split())


def test_unknown_game_suggests_close_names():
    with pytest.raises(UnknownGameError, match="Did you mean tic_tac_toe"):
        resolve_games("tic_tac_to")


@pytest.mark.parametrize("name", list_games())
def test_extract_code_returns_every_golden_whole(name):
    """Bare (some start with a docstring) and fenced goldens come back unchanged."""
    from gamecwm_jax.games.prompts import extract_code

    source = get_game(name).golden_source
    assert extract_code(source).strip() == source.strip()
    chatty = f"Here is the module.\n\n{golden_completion(name)}\n\nIt implements every rule."
    assert extract_code(chatty).strip() == source.strip()
