"""Command line of the audit record repository.

    python -m audit serve                        # TLS 6514, UDP 5514, HTTP 8083, data under $XDS_DATA_DIR/audit
    python -m audit accesses '123^^^&1.2.250.1.213.1.4.8&ISO' [--since ISO] [--until ISO] [--json]
    python -m audit search [--user ID] [--event-type ITI-43] [--patient CX] [--since ISO] [--until ISO] [--json]
    python -m audit rejected [--json]
    python -m audit migrate                      # create or upgrade the database, then exit
    python -m audit retention --keep-days 3650   # or --before ISO: drop older events (PostgreSQL: whole months)

The query commands read the database named by the settings ([audit] database_url, XDS_AUDIT_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.config import AuditSettings
from audit.store import AuditStore, EventFilter
from xdsservice.config import load_or_exit


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m audit", description="ATNA audit record repository")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the sink: syslog TLS and UDP listeners and the HTTP API")
    serve.add_argument("--log-level", default="INFO")
    commands.add_parser("migrate", help="create or upgrade the database schema")

    def with_output(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--since", type=_time)
        p.add_argument("--until", type=_time)
        p.add_argument("--limit", type=int, default=100)
        p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
        return p

    accesses = with_output(commands.add_parser("accesses", help="the access trace of one patient"))
    accesses.add_argument("patient_id", help="patient id as CX in any form, e.g. 123^^^&1.2.250.1.213.1.4.8&ISO^NH "
                          "(matched on CX.1 and the assigning authority)")
    search = with_output(commands.add_parser("search", help="events by user, event type, patient and period"))
    search.add_argument("--user")
    search.add_argument("--event-type", help="e.g. ITI-43")
    search.add_argument("--patient")
    retention = commands.add_parser("retention", help="drop the events older than a date or a number of days")
    older = retention.add_mutually_exclusive_group(required=True)
    older.add_argument("--before", type=_time, help="ISO 8601 date-time")
    older.add_argument("--keep-days", type=int)
    rejected = commands.add_parser("rejected", help="messages stored as rejected, with the reason")
    rejected.add_argument("--limit", type=int, default=100)
    rejected.add_argument("--json", action="store_true")
    return parser


def _print_events(events: list[dict[str, Any]], as_json: bool) -> None:
    for e in events:
        if as_json:
            row = {k: v for k, v in e.items() if k not in ("message", "digest")}
            print(json.dumps(row, default=str, ensure_ascii=False))
            continue
        who = e["user_name"] or e["user_id"]
        roles = ",".join(r["text"] or r["code"] for r in e["user_roles"])
        org = e["organisation"] or e["organisation_id"]
        docs = ",".join(d["document_unique_id"] for d in e["documents"])
        mode = e["access_mode"] or "-"
        print(
            f"{e['event_time'].isoformat()}  {e['event_type']:<7} {e['event_action']} outcome={e['outcome']:<2} "
            f"mode={mode:<13} user={who} roles=[{roles}] org={org or '-'} docs=[{docs}] "
            f"patients={','.join(e['patient_ids'])}"
        )
    if not as_json:
        print(f"({len(events)} event(s))", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_or_exit(AuditSettings, "audit")
    if args.command == "serve":
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from audit.service import run

        run(settings)
        return 0
    store = AuditStore.open(settings.database_url, migrate=True)
    try:
        if args.command == "migrate":
            print(f"audit database at head: {settings.database_url}")
        elif args.command == "accesses":
            _print_events(store.accesses(args.patient_id, args.since, args.until, args.limit), args.json)
        elif args.command == "search":
            criteria = EventFilter(
                patient_id=args.patient, user_id=args.user, event_type=args.event_type,
                since=args.since, until=args.until, limit=args.limit,
            )
            _print_events(store.search(criteria), args.json)
        elif args.command == "retention":
            cutoff = args.before or datetime.now(UTC) - timedelta(days=args.keep_days)
            dropped = store.drop_before(cutoff)
            print(f"events before {cutoff.isoformat()} dropped" + (f" (months {', '.join(f'{m:%Y-%m}' for m in dropped)})" if dropped else ""))
        elif args.command == "rejected":
            for r in store.rejected(args.limit):
                if args.json:
                    print(json.dumps({k: v for k, v in r.items() if k != "data"} | {"size": len(r["data"])},
                                     default=str))
                else:
                    print(f"{r['received_at'].isoformat()}  {r['transport']} {r['peer']}  {r['reason']}")
    finally:
        store.close()
    return 0
