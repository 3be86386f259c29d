"""What the name scan (`xdscore.names.tokens`, issue 16) costs each request, in process.

Every received body is scanned before it is parsed, to tell whether its names are known: measured here on
the bodies the services usually get (an ITI-42 of one DocumentEntry, an ITI-41 MTOM root part, ITI-41s
with the document inline as base64) beside the parse of the same body (`xdscore.xmlsafe.parse_bytes`).

    python -m bench.names_scan [--rounds 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import timeit

from harness import wire
from harness.builders import single_document
from xdscore import names, xmlsafe
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import Action, Status
from xdscore.vocabulary import StoredQueryId as Q


def bodies() -> dict[str, bytes]:
    builder = single_document()
    query = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": builder.patient_id,
                                             "$XDSDocumentEntryStatus": [Status.APPROVED.value]}, ReturnType.LEAF_CLASS)
    found: dict[str, bytes] = {
        "ITI-18 FindDocuments": wire.envelope(query, Action.STORED_QUERY),
        "ITI-42, one DocumentEntry": wire.envelope(builder.xml(), Action.REGISTER),
    }
    mtom_root, _ = wire.pnr_element(builder, {"Document01": wire.Content.of(os.urandom(30_000))})
    found["ITI-41 MTOM root part"] = wire.envelope(mtom_root, Action.PROVIDE_AND_REGISTER)
    for size in (30_000, 3_000_000):
        inline, _ = wire.pnr_element(builder, {"Document01": wire.Content.of(os.urandom(size))}, inline=True)
        found[f"ITI-41, {size // 1000} KB inline"] = wire.envelope(inline, Action.PROVIDE_AND_REGISTER)
    return found


def microseconds(work: object, rounds: int) -> float:
    return round(min(timeit.repeat(work, number=rounds, repeat=5)) / rounds * 1e6, 1)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.names_scan", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args(argv)
    report = {}
    for label, body in bodies().items():
        rounds = max(10, args.rounds * 8000 // max(len(body), 8000))
        report[label] = {"bytes": len(body), "tokens": len(names.tokens(body) or ()),
                         "scan_us": microseconds(lambda body=body: names.tokens(body), rounds),
                         "parse_us": microseconds(lambda body=body: xmlsafe.parse_bytes(body), rounds)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
