"""`python -m harness.fuzz [--target NAME ...] [--inputs N]`: fuzz the parsers, one JSON report per target."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness.fuzz import fuzz
from harness.fuzz.targets import TARGETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="default: every target")
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory(prefix="xds-fuzz-") as tmp:
        for name in args.target or list(TARGETS):
            report = fuzz(name, args.inputs, Path(tmp) / name, args.seed, args.hang_seconds)
            print(json.dumps(report.as_dict()), flush=True)
            failed = failed or report.failure is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
