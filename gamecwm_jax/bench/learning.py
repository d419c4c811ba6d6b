"""Does GRPO learn from the verifier? The README's table: seeds of the run and the control.

    python -m gamecwm_jax.bench.learning [--seeds 0,1,2] [--root runs/learning] \
        [--config configs/small_cpu.py] [--out-md table.md] [--png learning.png] [-- overrides]

For each seed, in sequence (the CPU is the bottleneck; parallel runs would only
slow each other): the main command, `python -m gamecwm_jax.rl --config CONFIG
--config.seed=S --config.workdir=ROOT/run_sS`, timed; then the control, the same
command with `--config.rl.control=shuffle` in ROOT/control_sS, started from a copy of
the run's finished SFT (the SFT is deterministic given the seed, so this saves its
minutes and pairs run and control on the same starting policy). Finished runs are
skipped on a rerun (delete ROOT to start over). Then the table (Markdown, printed and
written) and one PNG with every run's reward and P(golden) curves.

Per run the table gives the sampled mean reward of the first and last quarter of
the GRPO steps, their difference and two standard errors of it (from the
step-to-step spread), the exact P(golden) before GRPO (step 0) and after the last
step, and the command's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

from gamecwm_jax.train.metrics import read_jsonl
from gamecwm_jax.train.plots import plot_runs


def quarter_trend(rewards: Sequence[float]) -> dict[str, float]:
    """First vs last quarter of a per-step series, with 2 standard errors of the difference."""
    y = np.asarray(rewards, np.float64)
    k = max(1, len(y) // 4)
    first, last = y[:k], y[-k:]
    two_se = (
        2.0 * float(np.sqrt((first.var(ddof=1) + last.var(ddof=1)) / k)) if k > 1 else float("nan")
    )
    return {
        "first": float(first.mean()),
        "last": float(last.mean()),
        "diff": float(last.mean() - first.mean()),
        "two_se": two_se,
    }


def summarize_run(workdir: str) -> dict[str, float]:
    """The table row of one finished run, from its metrics.jsonl and timing file."""
    rows = read_jsonl(os.path.join(workdir, "rl", "metrics.jsonl"))
    steps = [r for r in rows if r["step"] > 0 and r.get("reward/mean") is not None]
    if not steps:
        raise ValueError(f"{workdir}: no GRPO step logged")
    out = quarter_trend([r["reward/mean"] for r in steps])
    p = [(r["step"], r["menu/p_golden"]) for r in rows if r.get("menu/p_golden") is not None]
    out["p_golden_start"] = p[0][1] if p and p[0][0] == 0 else float("nan")
    out["p_golden_end"] = p[-1][1] if p else float("nan")
    out["steps"] = len(steps)
    timing = os.path.join(workdir, "wall_s.json")
    t = json.load(open(timing)) if os.path.isfile(timing) else {}
    out["wall_s"] = t.get("wall_s", float("nan"))
    out["cpu_s"] = t.get("cpu_s", float("nan"))
    return out


def table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown table of `rows` (label -> summary), then mean +- sd per group."""
    head = (
        "| run | steps | reward, first quarter | last quarter | difference | 2 s.e. "
        "| P(golden) start | end | rise | wall time | CPU time |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for label, s in rows.items():
        rise = s["p_golden_end"] - s["p_golden_start"]
        lines.append(
            f"| {label} | {s['steps']} | {s['first']:.3f} | {s['last']:.3f} | {s['diff']:+.3f} "
            f"| {s['two_se']:.3f} | {s['p_golden_start']:.3f} | {s['p_golden_end']:.3f} "
            f"| {rise:+.3f} | {_minutes(s['wall_s'])} | {_minutes(s['cpu_s'])} |"
        )
    for group in ("run", "control"):
        members = [s for label, s in rows.items() if label.startswith(group)]
        if len(members) < 2:
            continue
        d = np.asarray([s["diff"] for s in members])
        r = np.asarray([s["p_golden_end"] - s["p_golden_start"] for s in members])
        lines.append(
            f"| **{group}, mean +- sd** | | | | **{d.mean():+.3f} +- {d.std(ddof=1):.3f}** | | | "
            f"| **{r.mean():+.3f} +- {r.std(ddof=1):.3f}** | | |"
        )
    return head + "\n".join(lines) + "\n"


def _minutes(seconds: float) -> str:
    return "n/a" if not np.isfinite(seconds) else f"{seconds / 60:.1f} min"


def run_command(config: str, workdir: str, seed: int, extra: Sequence[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gamecwm_jax.rl",
        f"--config={config}",
        f"--config.seed={seed}",
        f"--config.workdir={workdir}",
        *extra,
    ]


def run_once(cmd: list[str], workdir: str) -> None:
    """Runs `cmd` unless `workdir` holds a finished run; records its wall time."""
    timing = os.path.join(workdir, "wall_s.json")
    if os.path.isfile(timing):
        print(f"[learning] {workdir}: finished before, kept", flush=True)
        return
    print("[learning] " + " ".join(cmd), flush=True)
    t0, cpu0 = time.perf_counter(), _children_cpu_s()
    subprocess.run(cmd, check=True)
    os.makedirs(workdir, exist_ok=True)
    # CPU seconds too: on a shared machine the wall time says more about the other tenants.
    record = {"wall_s": time.perf_counter() - t0, "cpu_s": _children_cpu_s() - cpu0}
    with open(timing, "w") as f:
        json.dump({**record, "load_avg_1m": os.getloadavg()[0], "command": cmd}, f)


def _children_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--root", default="runs/learning")
    ap.add_argument("--config", default="configs/small_cpu.py")
    ap.add_argument("--control", default="shuffle", choices=("shuffle", "zero"))
    ap.add_argument("--out-md", default=None, help="default: ROOT/table.md")
    ap.add_argument("--png", default=None, help="default: ROOT/learning.png")
    ap.add_argument("overrides", nargs="*", help="extra --config.key=value for every run")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    labels: list[tuple[str, str]] = []
    for seed in seeds:
        run_dir = os.path.join(args.root, f"run_s{seed}")
        ctl_dir = os.path.join(args.root, f"control_s{seed}")
        run_once(run_command(args.config, run_dir, seed, args.overrides), run_dir)
        if not os.path.isdir(os.path.join(ctl_dir, "sft")):
            shutil.copytree(os.path.join(run_dir, "sft"), os.path.join(ctl_dir, "sft"))
        ctl = [*args.overrides, f"--config.rl.control={args.control}"]
        run_once(run_command(args.config, ctl_dir, seed, ctl), ctl_dir)
        labels += [(f"run_s{seed}", run_dir), (f"control_s{seed}", ctl_dir)]
    rows = {label: summarize_run(d) for label, d in sorted(labels)}
    md = table(rows)
    out_md = args.out_md or os.path.join(args.root, "table.md")
    with open(out_md, "w") as f:
        f.write(md)
    png = plot_runs(
        [d for _, d in sorted(labels)], args.png or os.path.join(args.root, "learning.png")
    )
    print(md)
    print(f"table: {out_md}\nplot: {png}")


if __name__ == "__main__":
    main()
