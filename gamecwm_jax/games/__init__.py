"""The GameCWM dataset: game metadata, goldens, scenarios, prompts, OpenSpiel bridges."""

from gamecwm_jax.games.registry import (
    CHANCE,
    TERMINAL,
    Game,
    UnknownGameError,
    get_game,
    games_dir,
    list_games,
    load_module_from_source,
)

__all__ = [
    "CHANCE",
    "TERMINAL",
    "Game",
    "UnknownGameError",
    "get_game",
    "games_dir",
    "list_games",
    "load_module_from_source",
]
