"""The ``mleval`` console script. ``mleval gate --baseline A --candidate B`` prints the server's
gate verdict (``GET /api/v1/gate/``, the same decision as ``manage.py compare_runs A B
--fail-on regression``) and exits with its code: 0 no significant regression, 1 a significant
regression, 2 nothing to compare or a bad argument (or the server could not answer)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mleval_client.client import Client
from mleval_client.wire import MlevalError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mleval", description="The mleval API client.")
    parser.add_argument("--url", help="the server (default: MLEVAL_URL)")
    parser.add_argument("--token", help="an API token (default: MLEVAL_TOKEN)")
    commands = parser.add_subparsers(dest="command", required=True)
    gate = commands.add_parser(
        "gate", help="fail (exit 1) on a significant regression of the candidate run"
    )
    gate.add_argument(
        "--baseline",
        required=True,
        help="a run id, baseline:<model name> (its marked baseline on the candidate's cases) or "
        "latest:<model name> (its newest completed run there); alone: the candidate's model",
    )
    gate.add_argument("--candidate", required=True, help="a run id")
    gate.add_argument("--alpha", type=float, help="significance level (server default 0.05)")
    gate.add_argument("--min-delta", type=float, help="pass-rate drop to ignore (0.02: 2 pts)")
    gate.add_argument("--evaluator", help="gate on this evaluator only")
    gate.add_argument("--junit", type=Path, help="write JUnit XML here")
    gate.add_argument("--markdown", type=Path, help="write a Markdown summary here")
    args = parser.parse_args(argv)
    try:
        with Client(args.url, args.token) as client:
            verdict = client.gate(
                args.baseline,
                args.candidate,
                alpha=args.alpha,
                min_delta=args.min_delta,
                evaluator=args.evaluator,
            )
    except MlevalError as error:
        print(f"mleval gate: {error}", file=sys.stderr)
        for field, messages in error.errors.items():
            print(f"  {field}: {'; '.join(messages)}", file=sys.stderr)
        return 2
    if args.junit:
        args.junit.write_text(verdict["junit"], encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(verdict["markdown"], encoding="utf-8")
    stream = sys.stderr if verdict["exit_code"] == 2 else sys.stdout
    stream.write(verdict["summary"])
    return int(verdict["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
