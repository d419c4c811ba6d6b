"""Where the dataset lives and how a game's files are read.

Each game is a folder `games/<name>/` (see `games/API.md`). This module is the only place
that knows that layout, so the verifier, the prompt builder and the trainer all ask it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

CHANCE = -1
TERMINAL = -4

REQUIRED_FUNCTIONS = (
    "get_initial_state",
    "apply_action",
    "get_current_player",
    "get_player_name",
    "get_legal_actions",
    "get_chance_outcomes",
    "get_rewards",
    "get_observations",
)
IMPERFECT_FUNCTIONS = ("resample_history",)


class UnknownGameError(KeyError):
    """A game name that is not in the dataset; the message lists the close matches."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


def games_dir() -> Path:
    """The dataset folder: $GAMECWM_GAMES_DIR, else `games/` at the repository root."""
    env = os.environ.get("GAMECWM_GAMES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "games"


@dataclasses.dataclass(frozen=True)
class Game:
    """One game of the dataset: its metadata plus accessors for its files."""

    name: str
    title: str
    information: str  # "perfect" | "imperfect"
    chance: bool
    split: str  # "train" | "test"
    tier: int | None
    num_players: int
    max_game_length: int
    openspiel: dict[str, Any] | None
    differences: str  # from OpenSpiel's version (or why there is none)
    path: Path
    # How the game differs from the seed's version of it, and why (datasheet column).
    # Optional in meta.json: "" means not yet written.
    seed_diff: str = ""

    @property
    def imperfect(self) -> bool:
        return self.information == "imperfect"

    @property
    def required_functions(self) -> tuple[str, ...]:
        return REQUIRED_FUNCTIONS + (IMPERFECT_FUNCTIONS if self.imperfect else ())

    @property
    def rules(self) -> str:
        return (self.path / "rules.md").read_text()

    @property
    def golden_path(self) -> Path:
        return self.path / "golden.py"

    @property
    def golden_source(self) -> str:
        return self.golden_path.read_text()

    def load_golden(self) -> types.ModuleType:
        """A fresh import of the golden (fresh each call, so callers cannot share state)."""
        return load_module_from_source(self.golden_source, f"golden_{self.name}")

    def scenarios(self) -> list[dict[str, Any]]:
        path = self.path / "scenarios.json"
        return json.loads(path.read_text()) if path.exists() else []

    def load_openspiel_map(self) -> types.ModuleType | None:
        path = self.path / "openspiel_map.py"
        if not path.exists():
            return None
        return load_module_from_source(path.read_text(), f"openspiel_map_{self.name}")


def load_module_from_source(source: str, name: str = "candidate") -> types.ModuleType:
    """Execute `source` as a new module object that is not registered in sys.modules."""
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    code = compile(source, f"<{name}>", "exec")
    exec(code, module.__dict__)  # noqa: S102 - trusted dataset code only; candidates go to the sandbox
    return module


@functools.cache
def _load_meta(path: Path) -> Game:
    meta = json.loads((path / "meta.json").read_text())
    fields = {f.name: f for f in dataclasses.fields(Game) if f.name != "path"}
    required = {n for n, f in fields.items() if f.default is dataclasses.MISSING}
    missing = required - meta.keys()
    if missing:
        raise ValueError(f"{path / 'meta.json'} lacks {sorted(missing)}")
    return Game(path=path, **{k: meta[k] for k in fields if k in meta})


def list_games(split: str | None = None, information: str | None = None) -> list[str]:
    """Game names, in curriculum order (tier, then name) for training games.

    split: None, "train", "test" or "all"; information: None, "perfect" or "imperfect".
    """
    root = games_dir()
    games = [_load_meta(p) for p in sorted(root.iterdir()) if (p / "meta.json").exists()]
    if split not in (None, "all"):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
        games = [g for g in games if g.split == split]
    if information is not None:
        games = [g for g in games if g.information == information]
    games.sort(key=lambda g: (g.split != "train", g.tier or 99, g.name))
    return [g.name for g in games]


def get_game(name: str) -> Game:
    """The game called `name`; an unknown name raises UnknownGameError with suggestions."""
    path = games_dir() / name
    if not (path / "meta.json").exists():
        known = list_games()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownGameError(f"Unknown game {name!r}.{hint} Known games: {', '.join(known)}")
    return _load_meta(path)


def resolve_games(spec: str) -> list[str]:
    """'train', 'test', 'all', or a comma-separated list of names -> game names.

    An unknown name, or a selection with no game in it, raises UnknownGameError.
    """
    if spec in ("train", "test", "all"):
        names = list_games(spec)
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
        for n in names:
            get_game(n)
    if not names:
        raise UnknownGameError(f"no games match {spec!r} (is {games_dir()} populated?)")
    return names


if __name__ == "__main__":  # pragma: no cover - tiny listing helper
    for n in list_games(sys.argv[1] if len(sys.argv) > 1 else None):
        g = get_game(n)
        print(f"{n:20s} {g.split:5s} tier={g.tier} {g.information:9s} chance={g.chance}")
