"""Requests with names never seen before against `python -m registry` (issue 16): the RSS it keeps.

libxml2 keeps every name it parses for the parsing thread's life; `xdsservice.names` parses bodies with
new names on threads that exit with them. This is the long run of docs/reliability.md: `--requests`
envelopes of `--names` new element and attribute names each (10 x 200,000 by default, 2.2 MB each), then
an ordinary ITI-42 and ITI-18, with the registry's RSS before, after each request and at the end.
`tests/registry/test_new_names.py` is the short run.

    python -m harness.newnames [--requests 10] [--names 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from lxml import etree

from harness.builders import new_patient_id, single_document
from harness.services import feed_patient, start_registry
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, Action, Status
from xdscore.vocabulary import StoredQueryId as Q

HEADERS = {"Content-Type": "application/soap+xml; charset=utf-8"}
_stream = itertools.count()


def hostile(names: int, action: Action = Action.REGISTER) -> bytes:
    """A SOAP envelope whose Body holds `names` element and attribute names, and a namespace, never used
    before (each call new ones)."""
    n, tag = next(_stream), uuid.uuid4().hex[:8]
    items = "".join(f'<x:e{tag}{n}n{i} a{tag}{i}="1"/>' for i in range(names // 2))
    body = f'<x:r{tag} xmlns:x="urn:new:{tag}:{n}">{items}</x:r{tag}>'
    return (f'<s:Envelope xmlns:s="{NS.SOAP12}" xmlns:a="{NS.WSA}"><s:Header><a:Action>{action.value}</a:Action>'
            f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID></s:Header><s:Body>{body}</s:Body></s:Envelope>"
            ).encode()


def envelope(body: etree._Element, action: Action) -> bytes:
    return etree.tostring(soap.request_envelope(body, action.value), xml_declaration=True, encoding="UTF-8")


def ordinary(url: str, patient: str) -> bool:
    """An ITI-42 and an ITI-18 FindDocuments that finds it: both Success."""
    registered = httpx.post(url, content=envelope(single_document(patient).xml(), Action.REGISTER),
                            headers=HEADERS, timeout=60)
    query = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient,
                                             "$XDSDocumentEntryStatus": [Status.APPROVED.value]}, ReturnType.OBJECT_REF)
    found = httpx.post(url, content=envelope(query, Action.STORED_QUERY), headers=HEADERS, timeout=60)
    return all(b"ResponseStatusType:Success" in r.content for r in (registered, found)) and b"ObjectRef" in found.content


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(requests: int, names: int, rounds: int, data_dir: Path) -> dict[str, object]:
    registry = start_registry(data_dir)
    try:
        patient = new_patient_id()
        feed_patient(registry.feed_port, patient)
        for _ in range(3):  # warm: the ordinary vocabulary is learned
            ordinary(registry.url, patient)
        pid = registry.process.pid
        report: dict[str, object] = {"requests": requests, "names": names, "start_mb": rss_mb(pid)}
        statuses: set[int] = set()
        after_round = []
        for _ in range(rounds):
            for _ in range(requests):
                statuses.add(httpx.post(registry.url, content=hostile(names), headers=HEADERS, timeout=120).status_code)
            time.sleep(1.0)  # the last request's memory is handed back after its answer
            after_round.append(rss_mb(pid))
        ordinary_after = ordinary(registry.url, patient)
        time.sleep(1.0)
        report.update(after_each_round_mb=after_round, statuses=sorted(statuses), ordinary_after=ordinary_after,
                      end_mb=rss_mb(pid))
        return report
    finally:
        registry.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.newnames", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--names", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xds-newnames-") as tmp:
        report = run(args.requests, args.names, args.rounds, Path(tmp))
    print(json.dumps(report, indent=2))
    return 0 if report["ordinary_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
