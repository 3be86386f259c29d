"""Command line: `python -m conformance run --registry URL --repository URL --patient-feed HOST:PORT
--testkit DIR [--collection reg|rep|… | TEST_ID …] [--xua-pki DIR] [--junit FILE] [--html FILE]`.

Exit status 0 only when every selected test passed or is not applicable (an actor option the endpoints do
not implement); data-loading dependencies are reported, not counted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from conformance import report
from conformance.prepare import Settings
from conformance.runner import Endpoints, Runner
from conformance.testplan import TestKit
from conformance.xua import XuaSource


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run test plans against live endpoints")
    run.add_argument("--testkit", type=Path, required=True, help="NIST test kit folder (holding tests/)")
    run.add_argument("--registry", help="Document Registry endpoint URL (ITI-42, ITI-18)")
    run.add_argument("--repository", help="Document Repository endpoint URL (ITI-41, ITI-43)")
    run.add_argument("--patient-feed", type=_host_port, help="registry's HL7v2 MLLP listener, HOST:PORT (ITI-8)")
    run.add_argument("--collection", action="append", default=[], help="actor collection (reg, rep, R.b …); repeatable")
    run.add_argument("tests", nargs="*", help="test ids to run")
    run.add_argument("--patient-aa", default=Settings.patient_aa, help="assigning authority OID of fed patient ids")
    run.add_argument("--source-id", default=Settings.source_id, help="XDSSubmissionSet.sourceId OID the kit uses")
    run.add_argument("--repository-uid", help="repositoryUniqueId of the repository, substituted for $repuid$")
    run.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    run.add_argument("--xua-pki", type=Path, metavar="DIR",
                     help="send a signed XUA assertion on every SOAP request, issued from this test PKI folder "
                          "(python -m xuatool pki DIR; the services must trust DIR/trust); the NIST XUA tests get "
                          "the variant their name asks for")
    run.add_argument("--xua-audience", help="AudienceRestriction of valid assertions (default: the endpoint URL)")
    run.add_argument("--xua-profile", choices=("xua", "vihf"), default="xua",
                     help="assertion attributes: IHE XUA (default) or the French VIHF")
    run.add_argument("--junit", type=Path, help="write JUnit XML here")
    run.add_argument("--html", type=Path, help="write the HTML report here")
    lst = sub.add_parser("list", help="list the tests of a collection")
    lst.add_argument("--testkit", type=Path, required=True)
    lst.add_argument("--collection", action="append", default=[])
    return p


def select(kit: TestKit, collections: list[str], tests: list[str]) -> list[str]:
    chosen: list[str] = []
    for c in collections:
        members = kit.collection_members(c)
        if not members:
            raise SystemExit(f"collection {c!r} has no test in {kit.tests_dir}")
        chosen += [t for t in members if t not in chosen]
    chosen += [t for t in tests if t not in chosen]
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        kit = TestKit(args.testkit)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "list":
        for t in select(kit, args.collection, []) if args.collection else kit.test_ids():
            d = kit.definition(t)
            print(f"{t:<28} {' '.join(d.collections):<30} {d.title}")
        return 0
    selected = select(kit, args.collection, args.tests)
    if not selected:
        print("nothing selected: give --collection or test ids", file=sys.stderr)
        return 2
    host, port = args.patient_feed if args.patient_feed else (None, None)
    security = None
    if args.xua_pki:
        try:
            security = XuaSource(args.xua_pki, args.xua_audience, args.xua_profile)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    runner = Runner(
        kit,
        Endpoints(args.registry, args.repository, host, port),
        Settings(patient_aa=args.patient_aa, source_id=args.source_id, repository_uid=args.repository_uid),
        timeout=args.timeout,
        security=security,
    )
    started = time.monotonic()
    try:
        for test_id in selected:
            before = set(runner.results)
            runner.run_test(test_id)
            for t in [t for t in runner.results if t not in before and t != test_id]:
                print(report.console_line(runner.results[t]), flush=True)
            print(report.console_line(runner.results[test_id]), flush=True)
    finally:
        runner.close()
    results = list(runner.results.values())
    print(report.summary(results, args.collection))
    print(f"  ({time.monotonic() - started:.1f}s)")
    if args.junit:
        report.write(args.junit, report.junit(results, args.collection))
    if args.html:
        report.write(args.html, report.html_report(results, args.collection))
    return 1 if any(runner.results[t].failed for t in selected) else 0


if __name__ == "__main__":
    sys.exit(main())
