"""A menu of whole programs per game: the golden and its rule mutants, combined.

Why: GRPO needs a policy whose samples are complete, parseable programs that the
verifier scores at clearly different levels, as a real model's samples differ in a
few decisions. A tiny model that only memorised the golden samples either the golden
or broken text, and that gives GRPO almost no signal (README, "Why the old run stayed
flat"). SFT on a menu instead teaches it several whole programs of one game.

The menu of a game with named mutants m_1..m_K (from `games/<g>/mutants.json`) is
every subset of them applied to the golden: 2^K programs, golden included. SFT sees
each program once per epoch, so at every mutant's site half of the training programs
take the golden's text and half the mutant's: each site is a 50/50 decision learnt
from equal counts. Equal shares stay equal at any sampling temperature (a 1:3 share
would be sharpened towards the majority below T = 1), so the golden starts near
2^-K and only the verifier's reward can move it.

Spec syntax (`data.menu`): ``game:mutant_a+mutant_b;other_game:mutant_c``. Scores
are never written down: `score_menu` runs the project's verifier on every program
at run time, so a change of the reward changes the logged scores, not the code.

`MenuProbe` gives the exact probability of every menu program under the sampling
distribution (softmax of logits / T, EOS included) from one forward pass over the
menu: a noise-free view of what GRPO did, logged next to the sampled reward.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gamecwm_jax.train import data as data_lib
from gamecwm_jax.train.config import ConfigError
from gamecwm_jax.train.logprobs import completion_logprobs

Params = dict[str, Any]


class MenuError(ConfigError):
    """A menu spec that names an unknown game or mutant, or mutants that overlap.

    A ConfigError, so the command line reports it in one line before any training."""


@dataclasses.dataclass(frozen=True)
class MenuProgram:
    game: str
    mutants: tuple[str, ...]  # () is the golden
    completion: str  # the fenced answer, as SFT teaches it

    @property
    def name(self) -> str:
        return "+".join(self.mutants) if self.mutants else "golden"


def parse_spec(spec: str) -> dict[str, list[str]]:
    """``"g:a+b;h:c"`` -> {"g": ["a", "b"], "h": ["c"]} (order kept; blanks ignored)."""
    out: dict[str, list[str]] = {}
    for part in spec.split(";"):
        part = part.strip()
        if not part:
            continue
        if ":" not in part:
            raise MenuError(f"menu entry {part!r} is not 'game:mutant+mutant'")
        game, muts = (s.strip() for s in part.split(":", 1))
        names = [m.strip() for m in muts.split("+") if m.strip()]
        if not names:
            raise MenuError(f"menu entry {part!r} names no mutant")
        if game in out:
            raise MenuError(f"game {game!r} appears twice in the menu spec")
        out[game] = names
    return out


def build_menu(spec: str, games: Sequence[str]) -> list[MenuProgram]:
    """Every subset of each game's named mutants applied to its golden (golden first).

    Games of `games` the spec does not name get their golden alone. A mutant whose
    `find` text was consumed by an earlier one of the same subset is an error: the
    programs must differ at separate sites for the shares to be independent.
    """
    from gamecwm_jax.games import get_game
    from gamecwm_jax.games.prompts import fenced_answer
    from gamecwm_jax.verify.mutants import apply_mutant, load_mutants

    wanted = parse_spec(spec)
    extra = sorted(set(wanted) - set(games))
    if extra:
        raise MenuError(f"menu names games that are not trained on: {extra} (games: {list(games)})")
    menu = []
    for game in games:
        known = {m["name"]: m for m in load_mutants(game)}
        names = wanted.get(game, [])
        missing = [n for n in names if n not in known]
        if missing:
            raise MenuError(
                f"{game}: unknown mutant(s) {missing}; games/{game}/mutants.json has "
                f"{sorted(known)}"
            )
        golden = get_game(game).golden_source
        for k in range(len(names) + 1):
            for subset in itertools.combinations(names, k):
                source = golden
                for n in subset:
                    try:
                        source = apply_mutant(source, known[n])
                    except ValueError as e:
                        raise MenuError(f"{game}: mutants {subset} overlap: {e}") from e
                menu.append(MenuProgram(game, tuple(subset), fenced_answer(source)))
    return menu


def sft_examples(
    tokenizer: Any,
    menu: Sequence[MenuProgram],
    max_len: int,
    use_system_prompt: bool = True,
    style: str = "full",
) -> list[data_lib.SftExample]:
    """One (prompt, program + EOS) pair per menu program: equal counts per site."""
    out = []
    for prog in menu:
        ex = data_lib.sft_pair(tokenizer, prog.game, prog.completion, use_system_prompt, style)
        if len(ex.prompt) + len(ex.target) > max_len:
            raise MenuError(
                f"menu program {prog.game}/{prog.name}: {len(ex.prompt) + len(ex.target)} "
                f"tokens > sft.max_len {max_len}"
            )
        out.append(ex)
    return out


def score_menu(verifier: Any, menu: Sequence[MenuProgram], seed: int = 0) -> np.ndarray:
    """The verifier's score of every menu program (computed, never hard-coded)."""
    reports = verifier.verify_batch([(p.completion, p.game) for p in menu], seed=seed)
    return np.asarray([r.score for r in reports], np.float64)


@dataclasses.dataclass
class MenuProbe:
    """Padded `[prompt | program + EOS]` rows of the whole menu, scored in one pass."""

    menu: list[MenuProgram]
    tokens: np.ndarray  # [N, P + C] int32
    mask: np.ndarray  # [N, P + C] int32
    prompt_len: int

    @classmethod
    def build(
        cls,
        tokenizer: Any,
        menu: Sequence[MenuProgram],
        use_system_prompt: bool = True,
        style: str = "full",
        bucket: int = 64,
    ) -> MenuProbe:
        ex = sft_examples(tokenizer, menu, 1 << 30, use_system_prompt, style)
        p_len = data_lib.round_up(max(len(e.prompt) for e in ex), bucket)
        c_len = data_lib.round_up(max(len(e.target) for e in ex), bucket)
        tokens, mask = data_lib.pad_rows(
            [e.prompt for e in ex], [e.target for e in ex], p_len, c_len, data_lib.pad_id(tokenizer)
        )
        return cls(list(menu), tokens, mask, p_len)

    def logprobs(
        self,
        params: Params,
        cfg: Any,
        temperature: float,
        lora: Params | None = None,
        lora_cfg: Any = None,
        chunk: int = 256,
    ) -> np.ndarray:
        """log P_T(program) for every menu program: the sum of its tokens' log-probs."""
        logp = _sequence_logprobs(
            params,
            lora,
            jnp.asarray(self.tokens),
            jnp.asarray(self.mask),
            jnp.float32(temperature),
            cfg=cfg,
            lora_cfg=lora_cfg if lora is not None else None,
            prompt_len=self.prompt_len,
            chunk=chunk,
        )
        return np.asarray(logp, np.float64)


@functools.partial(jax.jit, static_argnames=("cfg", "lora_cfg", "prompt_len", "chunk"))
def _sequence_logprobs(
    params, lora, tokens, mask, temperature, *, cfg, lora_cfg, prompt_len, chunk
):
    logp_bc, _ = completion_logprobs(
        params,
        cfg,
        tokens,
        mask,
        prompt_len,
        lora=lora,
        lora_cfg=lora_cfg,
        chunk=chunk,
        temperature=temperature,
    )
    return jnp.sum(logp_bc * mask[:, prompt_len:], axis=1)


def menu_metrics(
    menu: Sequence[MenuProgram], logp: np.ndarray, scores: np.ndarray
) -> dict[str, float]:
    """Exact probabilities, per program and summed, averaged over the menu's games.

    `menu/p_golden`: mean over games of P(golden); `menu/mass`: of P(any menu program);
    `menu/expected_reward`: of sum_i P(i) * score(i), the expected reward counting
    everything off the menu as 0 (a lower bound; the mass says how tight it is).
    """
    probs = np.exp(logp)
    games = list(dict.fromkeys(p.game for p in menu))
    m: dict[str, float] = {}
    per_game = {k: [] for k in ("p_golden", "mass", "expected_reward")}
    for g in games:
        idx = [i for i, p in enumerate(menu) if p.game == g]
        for i in idx:
            m[f"menu/p/{g}/{menu[i].name}"] = float(probs[i])
        per_game["p_golden"].append(probs[idx[0]])
        per_game["mass"].append(probs[idx].sum())
        per_game["expected_reward"].append(float(probs[idx] @ scores[idx]))
    for k, v in per_game.items():
        m[f"menu/{k}"] = float(np.mean(v))
    return m


def sft_examples_for(
    config: Any, tokenizer: Any, games: Sequence[str]
) -> list[data_lib.SftExample]:
    """SFT pairs for `config`: the menu's programs if `data.menu` is set, else the goldens."""
    dc = config.data
    if not dc.menu:
        return data_lib.sft_examples(
            tokenizer, games, config.sft.max_len, dc.use_system_prompt, dc.prompt_style
        )
    menu = build_menu(dc.menu, games)
    return sft_examples(tokenizer, menu, config.sft.max_len, dc.use_system_prompt, dc.prompt_style)


def make_probe(
    config: Any,
    verifier: Any,
    cfg: Any,
    params: Params,
    tokenizer: Any,
    games: Sequence[str],
    lora_cfg: Any,
) -> Callable[[Params | None], dict[str, float]] | None:
    """`probe(lora) -> metrics` for the GRPO loop, or None when `data.menu` is off.

    Scores the menu with the verifier once (logged, and written to
    `<workdir>/rl/menu.json`), then each call costs one forward pass over the menu.
    """
    dc = config.data
    if not dc.menu:
        return None
    menu = build_menu(dc.menu, games)
    scores = score_menu(verifier, menu, seed=config.seed)
    probe = MenuProbe.build(tokenizer, menu, dc.use_system_prompt, dc.prompt_style)
    record = [
        {"game": p.game, "program": p.name, "score": float(s), "tokens": int(m.sum())}
        for p, s, m in zip(menu, scores, probe.mask[:, probe.prompt_len :])
    ]
    stage = os.path.join(config.workdir, "rl")
    os.makedirs(stage, exist_ok=True)
    with open(os.path.join(stage, "menu.json"), "w") as f:
        json.dump(record, f, indent=1)
    for r in record:
        logging.info("menu %s/%s: verifier score %.3f", r["game"], r["program"], r["score"])
    temperature = float(config.rl.temperature)

    def run(lora: Params | None) -> dict[str, float]:
        logp = probe.logprobs(params, cfg, temperature, lora, lora_cfg, config.rl.logprob_chunk)
        return menu_metrics(menu, logp, scores)

    return run
