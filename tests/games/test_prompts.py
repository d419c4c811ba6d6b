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


def test_token_lengths_default_to_qwen25_and_count_what_the_trainer_feeds():
    """Default counts = the trainer's own tokenisation (train.data) with Qwen2.5's vocabulary."""
    from gamecwm_jax.model.qwen_bpe import Qwen25Tokenizer
    from gamecwm_jax.train.data import sft_examples

    games = "tic_tac_toe,kuhn_poker"
    rows = token_lengths(split=games)
    examples = sft_examples(Qwen25Tokenizer(), games.split(","), max_len=10**6)
    for row, ex in zip(rows, examples, strict=True):
        assert row["game"] == ex.game
        assert row["prompt_tokens"] == len(ex.prompt)
        assert row["golden_tokens"] + 1 == len(ex.target)  # the trainer appends EOS


def test_token_lengths_with_a_byte_tokenizer():
    """A tokenizer without merges counts bytes, plus one per special token of the template."""
    from gamecwm_jax.games.prompts import SYSTEM_PROMPT
    from gamecwm_jax.model.testing import make_tiny_tokenizer

    row = token_lengths(make_tiny_tokenizer(), split="tic_tac_toe")[0]
    chat = (  # ChatML: 5 specials (3 x im_start, 2 x im_end) around the plain text
        f"system\n{SYSTEM_PROMPT}\nuser\n{build_prompt('tic_tac_toe')}\nassistant\n"
    )
    assert row["prompt_tokens"] == len(chat.encode()) + 5
    assert row["golden_tokens"] == len(golden_completion("tic_tac_toe").encode())


def test_budget_notes_count_the_eos_token():
    from gamecwm_jax.games.prompts import budget_notes

    budgets = {"max_prompt_len": 100, "max_new_tokens": 50, "sft_max_len": 140}
    assert budget_notes({"prompt_tokens": 90, "golden_tokens": 49}, budgets) == []
    assert budget_notes({"prompt_tokens": 90, "golden_tokens": 50}, budgets) == [
        "golden + EOS > 50 (completion budget)",
        "prompt + golden + EOS > 140 (SFT skips the pair)",
    ]
    assert budget_notes({"prompt_tokens": 101, "golden_tokens": 10}, budgets) == [
        "prompt > 100 (GRPO prompt budget)"
    ]


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


def test_every_training_pair_fits_the_recipes_budgets():
    """A training golden over budget is silently dropped from SFT (or cut in GRPO)."""
    from gamecwm_jax.games.prompts import budget_notes, recipe_budgets

    budgets = recipe_budgets()
    over = {r["game"]: budget_notes(r, budgets) for r in token_lengths(split="train")}
    assert not {g: n for g, n in over.items() if n}
