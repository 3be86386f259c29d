"""`python -m harness.fuzz [--target NAME ...] [--inputs N] [--findings DIR]`: fuzz the parsers, one JSON report per
target; `--target NAME --replay FILE` runs a kept input again."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness.fuzz import fuzz, replay
from harness.fuzz.targets import TARGETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="default: every target")
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    parser.add_argument("--findings", type=Path, help="where slow inputs are kept (default: a new folder in /tmp)")
    parser.add_argument("--replay", type=Path, help="run this kept input again (with one --target)")
    args = parser.parse_args(argv)
    if args.replay is not None:
        if not args.target or len(args.target) != 1:
            parser.error("--replay needs the one --target the input was kept from")
        with tempfile.TemporaryDirectory(prefix="xds-fuzz-") as tmp:
            print(json.dumps(replay(args.target[0], args.replay, Path(tmp))), flush=True)
        return 0
    findings = args.findings or Path(tempfile.mkdtemp(prefix="xds-fuzz-findings-"))  # kept: it outlives the run
    failed = False
    with tempfile.TemporaryDirectory(prefix="xds-fuzz-") as tmp:
        for name in args.target or list(TARGETS):
            report = fuzz(name, args.inputs, Path(tmp) / name, args.seed, args.hang_seconds, findings)
            print(json.dumps({**report.as_dict(), "findings": str(findings)}), flush=True)
            failed = failed or report.failure is not None
    if args.findings is None and not any(findings.iterdir()):
        findings.rmdir()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
