"""Several GRPO runs in one PNG: sampled reward and exact P(golden) per step.

    python -m gamecwm_jax.train.plots runs/learning/run_s0 runs/learning/control_s0 ... \
        [--out learning.png] [--smooth 5]

Each argument is a workdir (or its `rl/` folder, or a metrics.jsonl). A run whose
directory name starts with "control" is drawn dashed in grey-blue, every other run solid,
so run and control read apart at a glance. The top panel is the sampled mean reward
(a trailing `--smooth`-step mean; single steps are noisy), the bottom one the exact
probability of the golden program (`menu/p_golden`), when the runs logged it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import numpy as np

from gamecwm_jax.train.metrics import read_jsonl


def metrics_path(run: str) -> str:
    """The metrics.jsonl of a workdir, its rl/ folder, or the file itself."""
    for cand in (run, os.path.join(run, "metrics.jsonl"), os.path.join(run, "rl", "metrics.jsonl")):
        if os.path.isfile(cand):
            return cand
    raise FileNotFoundError(f"no GRPO metrics.jsonl under {run!r}")


def series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    if not pts:
        return np.zeros(0), np.zeros(0)
    x, y = zip(*pts)
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def trailing_mean(y: np.ndarray, k: int) -> np.ndarray:
    """Mean of the last min(k, i + 1) values at each i (no shrinking of the curve)."""
    c = np.cumsum(np.concatenate([[0.0], y]))
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(i - k, 0)
    return (c[i] - c[lo]) / (i - lo)


def label_of(run: str) -> str:
    path = os.path.normpath(run)
    parts = [p for p in path.split(os.sep) if p not in ("rl", "metrics.jsonl")]
    return parts[-1] if parts else path


def plot_runs(runs: Sequence[str], out: str, smooth: int = 5) -> str:
    """Writes the two-panel PNG of `runs` to `out`; returns `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [(label_of(r), read_jsonl(metrics_path(r))) for r in runs]
    has_p = any(series(rows, "menu/p_golden")[0].size for _, rows in data)
    fig, axes = plt.subplots(2 if has_p else 1, 1, figsize=(8, 7 if has_p else 4), sharex=True)
    axes = np.atleast_1d(axes)
    for label, rows in data:
        control = label.startswith("control")
        style = {"ls": "--", "color": "tab:gray"} if control else {"ls": "-"}
        x, y = series(rows, "reward/mean")
        x, y = x[x > 0], y[x > 0]
        if y.size:
            axes[0].plot(x, trailing_mean(y, smooth), label=label, lw=1.5, **style)
        if has_p:
            xp, p = series(rows, "menu/p_golden")
            axes[1].plot(xp, p, label=label, lw=1.5, **style)
    axes[0].set_ylabel(f"sampled reward ({smooth}-step trailing mean)")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7, ncol=2, loc="lower right")
    if has_p:
        axes[1].set_ylabel("exact P(golden)")
        axes[1].set_ylim(-0.02, 1.02)
    axes[-1].set_xlabel("GRPO step")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="workdirs, rl/ folders or metrics.jsonl files")
    ap.add_argument("--out", default="runs.png")
    ap.add_argument("--smooth", type=int, default=5, help="trailing-mean window of the reward")
    args = ap.parse_args(argv)
    try:
        print(plot_runs(args.runs, args.out, args.smooth))
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
