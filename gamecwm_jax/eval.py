"""Sample K programs per game, verify them, and write the seed's results table.

    python -m gamecwm_jax.eval --model DIR [--lora ADAPTER[,ADAPTER2]] --games test --samples 10

`--model` is an HF checkpoint directory (e.g. checkpoints/Qwen2.5-3B-Instruct,
or a merged export `<workdir>/export/merged`); `--lora` adapters (written by
sft/rl: `<workdir>/sft/adapter`, `<workdir>/rl/adapter`) are merged in the
order given (SFT first, then GRPO's, which was trained on top of it).

Writes to --out (default `<model>/eval` style under runs/eval/NAME): results.md,
results.csv, results.json (per-sample reports too) and results.png. The table
has one row per game and the seed's summary rows (all, perfect, imperfect
information); each cell is the mean over samples with a 95% confidence
interval (mean +- 1.96 sd / sqrt(n)). "reward" is the verifier's weighted
score; "tier mean" the unweighted mean of the tiers that apply to the game
(the seed's "mean" column); tiers that do not apply to a game are left out of
its averages.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from typing import Any, Sequence

import numpy as np

from gamecwm_jax.games.registry import resolve_games

TIER_COLUMNS = ("static", "dynamics", "semantics", "scenarios", "information")
COLUMNS = ("reward", "tier_mean") + TIER_COLUMNS


def mean_ci(values: Sequence[float]) -> tuple[float | None, float | None, int]:
    """(mean, 95% half-width, n); half-width 0 for one value, None for none."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    if v.size == 0:
        return None, None, 0
    half = 1.96 * v.std(ddof=1) / math.sqrt(v.size) if v.size > 1 else 0.0
    return float(v.mean()), float(half), int(v.size)


def sample_record(game: str, information: str, report: Any, completion: str = "") -> dict[str, Any]:
    """One sample's row of results.json: reward, every tier and the tier mean."""
    tiers = {t: report.tiers.get(t) for t in TIER_COLUMNS}
    present = [v for v in tiers.values() if v is not None]
    return {
        "game": game,
        "info": information,
        "reward": float(report.score),
        "tier_mean": float(np.mean(present)) if present else None,
        **tiers,
        "failure": None
        if report.failure is None
        else getattr(report.failure, "message", str(report.failure)),
        "completion": completion,
    }


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows: one per game (in first-seen order), then all / perfect / imperfect."""
    groups: list[tuple[str, str, list[dict[str, Any]]]] = []
    for game in dict.fromkeys(r["game"] for r in records):
        rows = [r for r in records if r["game"] == game]
        groups.append((game, rows[0]["info"], rows))
    for name, info in (("all", None), ("perfect", "perfect"), ("imperfect", "imperfect")):
        rows = [r for r in records if info is None or r["info"] == info]
        if rows:
            groups.append((name, info or "all", rows))
    table = []
    for name, info, rows in groups:
        out: dict[str, Any] = {
            "row": name,
            "info": info,
            "games": len({r["game"] for r in rows}),
            "n": len(rows),
        }
        for col in COLUMNS:
            m, h, n = mean_ci([r[col] for r in rows])
            out[col], out[f"{col}_ci95"], out[f"{col}_n"] = m, h, n
        table.append(out)
    return table


def _cell(m: float | None, h: float | None) -> str:
    return "n/a" if m is None else f"{100 * m:.1f} ± {100 * h:.1f}"


def to_markdown(table: list[dict[str, Any]], title: str = "") -> str:
    head = ["row", "info", "n"] + list(COLUMNS)
    lines = [
        f"### {title}\n" if title else "",
        "Scores in %, mean ± 95% CI over samples.\n",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in table:
        cells = [
            f"**{r['row']}**" if r["row"] in ("all", "perfect", "imperfect") else r["row"],
            r["info"],
            str(r["n"]),
        ] + [_cell(r[c], r[f"{c}_ci95"]) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(
    out_dir: str, records: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, str]:
    """results.{md,csv,json,png} in out_dir; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    table = summarize(records)
    paths = {k: os.path.join(out_dir, f"results.{k}") for k in ("md", "csv", "json", "png")}
    with open(paths["md"], "w") as f:
        f.write(to_markdown(table, meta.get("title", "")))
    with open(paths["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    with open(paths["json"], "w") as f:
        json.dump({"meta": meta, "table": table, "samples": records}, f, indent=1)
    plot_table(table, paths["png"], meta.get("title", ""))
    return paths


def plot_table(table: list[dict[str, Any]], png: str, title: str = "") -> None:
    """Grouped bars: one group per column, one bar per summary row, 95% CI whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table if r["row"] in ("all", "perfect", "imperfect")] or table
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(rows)
    x = np.arange(len(COLUMNS))
    for i, r in enumerate(rows):
        vals = [100 * (r[c] or 0.0) for c in COLUMNS]
        errs = [100 * (r[f"{c}_ci95"] or 0.0) for c in COLUMNS]
        ax.bar(
            x + i * width - 0.4 + width / 2,
            vals,
            width,
            yerr=errs,
            capsize=3,
            label=f"{r['row']} (n={r['n']})",
        )
    ax.set_xticks(x, [c.replace("_", " ") for c in COLUMNS])
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def evaluate(
    params: Any,
    cfg: Any,
    tokenizer: Any,
    games: list[str],
    *,
    samples: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    verifier: Any,
    prompt_style: str = "full",
    use_system_prompt: bool = True,
) -> list[dict[str, Any]]:
    """Samples `samples` completions per game (in sampler calls of <= batch_size rows)."""
    import jax

    from gamecwm_jax.games import get_game
    from gamecwm_jax.sampler import Sampler
    from gamecwm_jax.train import data as data_lib

    sampler = Sampler(cfg, tokenizer)
    key = jax.random.PRNGKey(seed)
    records = []
    for gi, game in enumerate(games):
        ids = data_lib.prompt_ids(tokenizer, game, use_system_prompt, prompt_style)
        texts: list[str] = []
        while len(texts) < samples:
            n = min(batch_size, samples - len(texts))
            out = sampler(
                params,
                [ids],
                key=jax.random.fold_in(key, gi * 100_003 + len(texts)),
                num_samples=n,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
            )
            texts += sampler.decode(out)
        reports = verifier.verify_batch([(t, game) for t in texts], seed=seed)
        info = get_game(game).information
        records += [sample_record(game, info, r, t) for r, t in zip(reports, texts)]
        logging.info("eval %s: mean reward %.3f", game, np.mean([r.score for r in reports]))
    return records


def main(argv: list[str]) -> None:
    del argv
    from gamecwm_jax.train import setup

    def go():
        import jax.numpy as jnp

        from gamecwm_jax.model import load_lora, load_pretrained, load_tokenizer, merge_lora
        from gamecwm_jax.verify import RewardConfig, Verifier

        f = FLAGS
        if not os.path.isdir(f.model):
            raise setup.SetupError(f"model directory {f.model!r} does not exist")
        games = resolve_games(f.games)
        name = os.path.basename(os.path.normpath(f.lora.split(",")[-1] if f.lora else f.model))
        out_dir = f.out or os.path.join("runs", "eval", name)
        setup.check_writable(out_dir)
        dtype = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[f.dtype]
        cfg, params = load_pretrained(f.model, dtype)
        tokenizer = load_tokenizer(f.model)
        for path in [p for p in (f.lora or "").split(",") if p]:
            lora, lcfg = load_lora(path)
            params = merge_lora(params, lora, lcfg)
        t0 = time.perf_counter()
        reward_cfg = RewardConfig.fast() if f.fast_verify else RewardConfig()
        with Verifier(num_workers=f.num_workers or None, config=reward_cfg) as verifier:
            records = evaluate(
                params,
                cfg,
                tokenizer,
                games,
                samples=f.samples,
                temperature=f.temperature,
                max_new_tokens=f.max_new_tokens,
                batch_size=f.batch_size,
                seed=f.seed,
                verifier=verifier,
                prompt_style=f.prompt_style,
            )
        meta = {
            "model": f.model,
            "lora": f.lora,
            "games": games,
            "samples": f.samples,
            "temperature": f.temperature,
            "max_new_tokens": f.max_new_tokens,
            "seed": f.seed,
            "seconds": time.perf_counter() - t0,
            "title": f"{name}: {f.games}, K={f.samples}",
        }
        paths = write_outputs(out_dir, records, meta)
        print(open(paths["md"]).read())
        print("wrote", ", ".join(paths.values()))

    setup.run_main(go)


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("model", None, "HF checkpoint directory", required=True)
    flags.DEFINE_string("lora", "", "adapter dir(s) to merge, comma-separated, in order")
    flags.DEFINE_string("games", "test", "'train' | 'test' | 'all' | comma-separated names")
    flags.DEFINE_integer("samples", 10, "completions per game (K)")
    flags.DEFINE_float("temperature", 0.3, "sampling temperature (the seed's eval: 0.3)")
    flags.DEFINE_integer("max_new_tokens", 4096, "completion budget")
    flags.DEFINE_integer("batch_size", 8, "completions per sampler call")
    flags.DEFINE_integer("seed", 0, "sampling and verifier seed")
    flags.DEFINE_string("out", "", "output dir (default runs/eval/<adapter or model name>)")
    flags.DEFINE_enum("dtype", "bfloat16", ["float32", "bfloat16"], "weights dtype")
    flags.DEFINE_integer("num_workers", 0, "verifier workers (0 = one per core)")
    flags.DEFINE_bool("fast_verify", False, "RewardConfig.fast(): fewer rollouts")
    flags.DEFINE_enum("prompt_style", "full", ["full", "name"], "as data.prompt_style in training")
    FLAGS = flags.FLAGS
    app.run(main)
