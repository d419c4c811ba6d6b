"""The chat prompt a model sees for a game, and the SFT pairs built from it.

The prompt is one user turn: an "expert Python programmer" framing, the game's rules.md,
the GameCWM interface (signatures and contracts from games/API.md, the imperfect-information
function only when the game needs it) and the instructions the verifier will hold the
program to. Keeping the prompt text here, and nowhere else, means SFT, GRPO and eval all
train and measure on exactly the same task.

    python -m gamecwm_jax.games.prompts --game kuhn_poker          # print one prompt
    python -m gamecwm_jax.games.prompts --lengths [--tokenizer DIR] # exact per-game token counts
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import warnings
from typing import Any

from gamecwm_jax.games.registry import get_game, resolve_games

SYSTEM_PROMPT = "You are an expert Python programmer who writes exact, complete game engines."

INTERFACE = '''\
```python
from typing import Any
Action = str              # exactly the action strings the rules specify
State = dict[str, Any]    # JSON-like values only: dict, list, str, int, float, bool, None

def get_initial_state() -> State: ...
def apply_action(state: State, action: Action) -> State:
    """The next state. Must not mutate `state`; must be deterministic (chance is an
    explicit chance node, never random inside a transition); raise ValueError if illegal."""
def get_current_player(state: State) -> int:
    """0..n-1 for the player to move, -1 at a chance node, -4 when the game is over."""
def get_player_name(player: int) -> str: ...
def get_legal_actions(state: State) -> list[Action]:
    """Legal actions of the player to move, or the outcomes at a chance node; [] when over."""
def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    """At a chance node every outcome with its probability (summing to 1); [] elsewhere."""
def get_rewards(state: State) -> list[float]:
    """One number per player: the return collected so far (the final outcome when over)."""
def get_observations(state: State) -> list[dict[str, Any]]:
    """One dict per player with exactly what that player may know, as the rules specify."""
```'''

RESAMPLE = '''\
This game has hidden information, so also define:

```python
def resample_history(obs_action_history: list[dict[str, Any]], player_id: int) -> list[Action]:
    """obs_action_history has one entry per state s_0..s_T of a game, as player_id saw it:
    {"observation": get_observations(s_t)[player_id],
     "action": a_t if get_current_player(s_t) == player_id else None}
    (the last entry has "action": None). Return a full action list a_0..a_{T-1}, chance
    outcomes included, that is legal from get_initial_state(), gives player_id the same
    observation at every step and contains player_id's own actions at the same steps.
    Any such history may be returned (random choices are fine)."""
```'''

INSTRUCTIONS = """\
Write the complete module. Requirements:
- Define every function above at module level (no class wrapping them); helper functions are fine.
- Use exactly the action strings and observation keys the rules specify.
- Import only the Python standard library, and import everything you use.
- No placeholders: no TODO, no `pass` bodies, no NotImplementedError; implement every rule.
- Answer with one ```python code block holding the whole module and nothing after it."""


def build_prompt(name: str) -> str:
    """The user-turn text for game `name` (rules + interface + instructions)."""
    game = get_game(name)
    parts = [
        (
            "Implement the game below as a Python module, a Game Code World Model that a "
            f"planner such as MCTS can use to play it.\n\n# Rules\n\n{game.rules.strip()}"
        ),
        f"# Interface\n\n{INTERFACE}",
    ]
    if game.imperfect:
        parts.append(RESAMPLE)
    parts.append(f"# Instructions\n\n{INSTRUCTIONS}")
    return "\n\n".join(parts)


def golden_completion(name: str) -> str:
    """The SFT target: the golden as the fenced answer the instructions ask for."""
    return fenced_answer(get_game(name).golden_source)


def fenced_answer(source: str) -> str:
    """A module as the one ```python block the instructions ask the model to answer with."""
    return f"```python\n{source.rstrip()}\n```"


# ```lang\n body ``` ; the closing fence is optional so a completion cut off by the token
# limit still yields its (possibly incomplete) code, which the verifier then reports.
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+\-.]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}
# A line that plausibly starts a Python program.
_CODE_START = re.compile(
    r"^(import\s|from\s+\S+\s+import\s|def\s|class\s|async\s+def\s|@\w|#|if\s+__name__"
    r"|\"\"\"|\'\'\'|[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*(:[^=]+)?=[^=])"
)


def _parse(code: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():  # a candidate's "1st" or "\d" is its own problem
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_program(text: str) -> bool:
    """Already a whole module (parses and defines functions): nothing to extract."""
    tree = _parse(text)
    return tree is not None and any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in tree.body
    )


def _bare_code(text: str) -> str:
    """Code from an unfenced completion: drop leading prose, then keep the longest prefix
    that parses (drops trailing prose such as "This code...")."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return text.strip()
    lines = lines[start:]
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).strip()
        if candidate and _parse(candidate) is not None:
            return candidate
    return "\n".join(lines).strip()


def extract_code(completion: str) -> str:
    """The Python program inside a model completion: the inverse of the answer format the
    instructions ask for, kept here beside them so the trainer, the CLI and the verifier
    all read answers the same way.

    A completion that already is a whole module is taken as is. Otherwise: fenced blocks
    tagged python (```python / ```py), then untagged fenced blocks, then bare code. Among
    several blocks the longest wins (models often add a short usage snippet after the
    program), ties going to the last one (a later block is usually the corrected version).
    Blocks tagged with another language (```bash, ```text) are ignored.
    """
    text = completion.replace("\r\n", "\n")
    if _is_program(text):
        return text.strip("\n").rstrip() + "\n"
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    for wanted in (lambda lang: lang in _PYTHON_TAGS, lambda lang: lang == ""):
        bodies = [body.strip("\n") for lang, body in blocks if wanted(lang) and body.strip()]
        if bodies:
            best = max(range(len(bodies)), key=lambda i: (len(bodies[i].strip()), i))
            return bodies[best].strip("\n").rstrip() + "\n"
    if blocks:  # only other-language fences: treat the text outside them as prose
        text = _FENCE.sub("", text)
    code = _bare_code(text)
    return code + "\n" if code else ""


def sft_pairs(split: str = "train") -> list[tuple[str, str, str]]:
    """(game name, prompt text, golden completion) for every game of `split`."""
    return [(n, build_prompt(n), golden_completion(n)) for n in resolve_games(split)]


def token_lengths(tokenizer: Any | None = None, split: str = "all") -> list[dict[str, Any]]:
    """Per game: exact token counts of what the trainer feeds the model.

    prompt_tokens: the prompt rendered with the tokenizer's chat template, the system turn
    SYSTEM_PROMPT and the assistant generation prefix (what `train.data.prompt_ids` builds).
    golden_tokens: the SFT target `golden_completion` (the fenced golden), without the EOS
    token the trainer appends. `tokenizer` is anything with the transformers call
    convention and `apply_chat_template`; None means Qwen2.5's own, built offline
    (`gamecwm_jax.model.qwen_bpe`), so the counts are exact without a checkpoint.
    """
    if tokenizer is None:
        from gamecwm_jax.model.qwen_bpe import Qwen25Tokenizer

        tokenizer = Qwen25Tokenizer()

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    rows = []
    for name in resolve_games(split):
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": build_prompt(name)},
        ]
        chat = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        rows.append(
            {
                "game": name,
                "split": get_game(name).split,
                "prompt_tokens": count(chat),
                "golden_tokens": count(golden_completion(name)),
            }
        )
    return rows


def recipe_budgets() -> dict[str, int]:
    """The recipe's token budgets, read from the training config so they cannot drift."""
    from gamecwm_jax.train.config import default_config

    c = default_config()
    return {
        "max_prompt_len": int(c.rl.max_prompt_len),
        "max_new_tokens": int(c.rl.max_new_tokens),
        "sft_max_len": int(c.sft.max_len),
    }


def budget_notes(row: dict[str, Any], budgets: dict[str, int]) -> list[str]:
    """What of a token_lengths row does not fit the recipe, and what that costs.

    The trainer appends EOS to the golden, GRPO and eval generate at most max_new_tokens
    (EOS included) after a prompt of at most max_prompt_len, and SFT skips a pair longer
    than sft_max_len; a golden that does not fit is a target the model cannot produce.
    """
    prompt, golden = row["prompt_tokens"], row["golden_tokens"] + 1  # + EOS
    notes = []
    if prompt > budgets["max_prompt_len"]:
        notes.append(f"prompt > {budgets['max_prompt_len']} (GRPO prompt budget)")
    if golden > budgets["max_new_tokens"]:
        notes.append(f"golden + EOS > {budgets['max_new_tokens']} (completion budget)")
    if prompt + golden > budgets["sft_max_len"]:
        notes.append(f"prompt + golden + EOS > {budgets['sft_max_len']} (SFT skips the pair)")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--game", help="print the prompt of this game")
    parser.add_argument("--lengths", action="store_true", help="print per-game token lengths")
    parser.add_argument(
        "--tokenizer", help="checkpoint dir whose tokenizer to use (default: Qwen2.5's, offline)"
    )
    parser.add_argument("--split", default="all")
    args = parser.parse_args(argv)
    if args.game:
        print(build_prompt(args.game))
    if args.lengths:
        tok = None
        if args.tokenizer:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(args.tokenizer)
        rows = token_lengths(tok, args.split)
        budgets = recipe_budgets()
        print(
            "| game | split | prompt tokens (chat) | golden tokens | over the recipe's budget |"
            "\n|---|---|---|---|---|"
        )
        for r in rows:
            notes = "; ".join(budget_notes(r, budgets)) or "fits"
            print(
                f"| {r['game']} | {r['split']} | {r['prompt_tokens']} | {r['golden_tokens']} "
                f"| {notes} |"
            )
    if not (args.game or args.lengths):
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
