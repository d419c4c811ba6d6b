"""python -m gamecwm_jax.verify FILE --game NAME [--json] [--seed S] [--seed-reward]

FILE holds a model completion or a plain module. Prints the report; exits 0 whenever the
verification ran (whatever the score), 2 for an unknown game or an unreadable file.
"""

from __future__ import annotations

import argparse
import json
import sys

from gamecwm_jax.verify.config import RewardConfig
from gamecwm_jax.verify.source import read_cli_candidate
from gamecwm_jax.verify.verifier import Verifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="a completion or a module ('-' for stdin)")
    parser.add_argument("--game", required=True)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per candidate")
    parser.add_argument(
        "--seed-reward", action="store_true", help="the seed's gates (RewardConfig.seed())"
    )
    args = parser.parse_args(argv)
    text = read_cli_candidate(args.file, args.game)
    if text is None:
        return 2
    config = RewardConfig.seed() if args.seed_reward else RewardConfig()
    if args.timeout:
        config = config.replace(timeout_s=args.timeout)
    with Verifier(num_workers=args.workers, config=config) as verifier:
        report = verifier.verify(text, args.game, seed=args.seed)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
