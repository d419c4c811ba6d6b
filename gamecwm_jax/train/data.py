"""Tokenised prompts / SFT pairs, padding, and the deterministic data order.

Row layout shared by SFT, GRPO and eval: `[prompt | completion]`, the prompt
left-padded to P columns and the completion right-padded to C columns, so all
prompts end at column P - 1 (the sampler's layout) and completion token j is
predicted by the hidden state at column P - 1 + j. Lengths are rounded up to
buckets so only a handful of shapes are ever compiled.

The data order is a pure function of (seed, position): a resumed run asks for
the items at its saved position and gets exactly what the uninterrupted run got.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from typing import Any, Sequence

import numpy as np


def round_up(n: int, multiple: int) -> int:
    return max(multiple, -(-n // multiple) * multiple)


def user_text(game: str, style: str = "full") -> str:
    """The user turn: the real prompt, or (style "name") one line naming the game."""
    from gamecwm_jax.games import get_game, prompts

    if style == "name":
        return f"Write the Game Code World Model of {get_game(game).title} ({game})."
    return prompts.build_prompt(game)


def prompt_ids(
    tokenizer: Any, game: str, use_system_prompt: bool = True, style: str = "full"
) -> list[int]:
    """Token ids of the chat-formatted prompt for `game`, ready to generate."""
    from gamecwm_jax.games import prompts
    from gamecwm_jax.model import chat_prompt

    system = prompts.SYSTEM_PROMPT if use_system_prompt else None
    text = chat_prompt(tokenizer, user_text(game, style), system=system)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def eos_id(tokenizer: Any) -> int:
    return int(tokenizer.convert_tokens_to_ids(tokenizer.eos_token))


def pad_id(tokenizer: Any) -> int:
    pid = tokenizer.pad_token_id
    return int(eos_id(tokenizer) if pid is None else pid)


@dataclasses.dataclass(frozen=True)
class SftExample:
    game: str
    tier: int
    prompt: tuple[int, ...]
    target: tuple[int, ...]  # golden completion + EOS


def sft_examples(
    tokenizer: Any,
    games: Sequence[str],
    max_len: int,
    use_system_prompt: bool = True,
    style: str = "full",
) -> list[SftExample]:
    """One (prompt, golden + EOS) pair per game, in the games' (curriculum) order.

    Pairs longer than `max_len` tokens are skipped with a warning (as the seed's
    6000-token limit does) rather than truncated into a program that cannot parse.
    """
    from gamecwm_jax.games import prompts

    out = []
    for g in games:
        ex = sft_pair(tokenizer, g, prompts.golden_completion(g), use_system_prompt, style)
        if len(ex.prompt) + len(ex.target) > max_len:
            n = len(ex.prompt) + len(ex.target)
            logging.warning("SFT: skipping %s (%d tokens > max_len %d)", g, n, max_len)
            continue
        out.append(ex)
    return out


def sft_pair(
    tokenizer: Any, game: str, completion: str, use_system_prompt: bool = True, style: str = "full"
) -> SftExample:
    """(prompt, completion + EOS) token ids for one game: how every SFT target is encoded,
    the golden's and a menu program's alike. The caller decides what an overlong pair means."""
    from gamecwm_jax.games import get_game

    p = prompt_ids(tokenizer, game, use_system_prompt, style)
    t = tokenizer(completion, add_special_tokens=False)["input_ids"] + [eos_id(tokenizer)]
    return SftExample(game, get_game(game).tier or 0, tuple(p), tuple(t))


def pad_rows(
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    p_len: int,
    c_len: int,
    pad: int,
) -> tuple[np.ndarray, np.ndarray]:
    """tokens_bt, mask_bt (int32) of `[left-padded prompt | right-padded completion]`."""
    b = len(prompts)
    tokens = np.full((b, p_len + c_len), pad, np.int32)
    mask = np.zeros((b, p_len + c_len), np.int32)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        if len(p) > p_len or len(c) > c_len:
            raise ValueError(
                f"row {i}: prompt {len(p)} / completion {len(c)} exceed {p_len} / {c_len}"
            )
        tokens[i, p_len - len(p) : p_len] = p
        mask[i, p_len - len(p) : p_len] = 1
        tokens[i, p_len : p_len + len(c)] = c
        mask[i, p_len : p_len + len(c)] = 1
    return tokens, mask


class Schedule:
    """An endless, deterministic sequence of items (game names or example indices).

    curriculum=True: first every tier in increasing order, `epochs_per_tier`
    shuffled passes each; then (and always when curriculum=False) shuffled passes
    over all items. `item(i)` depends only on (seed, i), which is what makes
    resuming from a saved position exact.
    """

    def __init__(
        self,
        items: Sequence[Any],
        tiers: Sequence[int],
        seed: int,
        curriculum: bool,
        epochs_per_tier: int = 1,
        shuffle: bool = True,
    ):
        self.items, self.seed, self.shuffle = list(items), seed, shuffle
        self.prefix: list[Any] = []
        if curriculum:
            for tier in sorted(set(tiers)):
                members = [x for x, t in zip(items, tiers) if t == tier]
                for e in range(epochs_per_tier):
                    self.prefix += self._order(members, ("tier", tier, e))

    def _order(self, members: list[Any], tag: tuple) -> list[Any]:
        if not self.shuffle:
            return list(members)
        # crc32, not hash(): str hashes are salted per process and would break resume.
        rng = np.random.default_rng([self.seed, *(zlib.crc32(str(x).encode()) for x in tag)])
        return [members[j] for j in rng.permutation(len(members))]

    def item(self, i: int) -> Any:
        if i < len(self.prefix):
            return self.prefix[i]
        j = i - len(self.prefix)
        n = len(self.items)
        return self._order(self.items, ("epoch", j // n))[j % n]

    def take(self, position: int, n: int) -> list[Any]:
        return [self.item(position + k) for k in range(n)]
