"""Per-step metrics to JSONL (always), TensorBoard, a tqdm bar and a PNG of the rewards.

JSONL is the record of truth (one object per step, `step` first). On resume the
file is cut back to the restored step, so it reads as if the run had never
stopped; TensorBoard handles duplicate steps itself.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


def read_jsonl(path: str) -> list[dict[str, Any]]:
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class NullLogger:
    """The logger of every host but process 0 on a multi-host run: one writer per run."""

    def log(self, step: int, metrics: dict[str, Any], progress: bool = True) -> None:
        pass

    def plot(self) -> str | None:
        return None

    def close(self) -> None:
        pass


class MetricsLogger:
    """Writes `<logdir>/metrics.jsonl`, TensorBoard events and `<logdir>/rewards.png`."""

    def __init__(
        self,
        logdir: str,
        *,
        total_steps: int,
        start_step: int = 0,
        tensorboard: bool = True,
        progress: bool = True,
        desc: str = "train",
        plot_every: int = 0,
        plot_keys: tuple[str, ...] = ("reward",),
    ):
        os.makedirs(logdir, exist_ok=True)
        self.logdir, self.plot_every, self.plot_keys = logdir, plot_every, plot_keys
        self.path = os.path.join(logdir, "metrics.jsonl")
        kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= start_step]
        with open(self.path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        self.tb = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter

                self.tb = SummaryWriter(os.path.join(logdir, "tb"))
            except ImportError:  # optional dependency; JSONL still has everything
                self.tb = None
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=start_step, desc=desc, dynamic_ncols=True)

    def log(self, step: int, metrics: dict[str, Any], progress: bool = True) -> None:
        """One row; `progress=False` for a row that is not a step (e.g. step 0, before any)."""
        record = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)) and v is not None:
                    self.tb.add_scalar(k.replace(".", "/").replace("+", "_"), v, step)
            self.tb.flush()
        if self.bar is not None and progress:
            self.bar.update(1)
            shown = {k: record[k] for k in ("loss", "reward/mean", "kl", "step_s") if k in record}
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items() if v is not None})
        if self.plot_every and step % self.plot_every == 0:
            self.plot()

    def plot(self) -> str | None:
        return plot_curves(self.path, os.path.join(self.logdir, "rewards.png"), self.plot_keys)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
        self.plot()


def _plain(v: Any) -> Any:
    if isinstance(v, (np.generic, np.ndarray)) or hasattr(v, "item"):
        v = np.asarray(v).item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def plot_curves(jsonl: str, png: str, prefixes: tuple[str, ...] = ("reward",)) -> str | None:
    """PNG of every metric starting with one of `prefixes` (e.g. reward/mean and tiers)."""
    rows = read_jsonl(jsonl)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for r in rows for k in r if k.startswith(prefixes) and not k.endswith("/std")})
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k in keys:
        pts = [(r["step"], r[k]) for r in rows if r.get(k) is not None]
        if not pts:
            continue
        x, y = map(np.asarray, zip(*pts))
        ax.plot(x, y, label=k, lw=2.0 if k.endswith("mean") else 1.0)
        if k.endswith("/mean") and len(y) >= 5:  # a trailing 5-step mean: one step is noisy
            smooth = np.convolve(y, np.ones(5) / 5, mode="valid")
            ax.plot(x[4:], smooth, "k--", lw=1.5, label=f"{k} (5-step mean)")
        std_key = k[: -len("mean")] + "std" if k.endswith("/mean") else None
        if std_key:
            s = [
                (r["step"], r[std_key])
                for r in rows
                if r.get(std_key) is not None and r.get(k) is not None
            ]
            if len(s) == len(pts):
                sd = np.asarray([v for _, v in s])
                ax.fill_between(x, y - sd, y + sd, alpha=0.15)
    ax.set_xlabel("step")
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
