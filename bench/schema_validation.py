"""Cost of the ebRS 3.0 schema check every ITI-42 / ITI-41 / ITI-18 / ITI-43 body goes through
(`xdsservice.schema_validation`), next to the cost of parsing the same body.

In-process, one thread: for SubmitObjectsRequests of 1, 10 and 100 DocumentEntries and for a FindDocuments
query, the median time of `violations(body)` (libxml2 validation of a valid body) and of parsing its bytes
with `xdscore.xmlsafe.parse_bytes`.

Run from the project root:  .venv/bin/python -m bench.schema_validation [--rounds 200]
The machine is shared with other work: figures are noisy; rerun on a quiet machine for the README.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

from lxml import etree

from harness.builders import SubmissionBuilder, new_patient_id
from xdscore import xmlsafe
from xdscore.queries import encode_request
from xdscore.vocabulary import ErrorCode, Status, StoredQueryId
from xdsservice import schema_validation


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def bodies() -> dict[str, etree._Element]:
    out: dict[str, etree._Element] = {}
    for n in (1, 10, 100):
        b = SubmissionBuilder(new_patient_id()).with_submission_set()
        for _ in range(n):
            b.add_document()
        out[f"SubmitObjectsRequest, {n} DocumentEntr{'y' if n == 1 else 'ies'}"] = b.xml()
    out["AdhocQueryRequest FindDocuments"] = encode_request(
        StoredQueryId.FindDocuments,
        {"$XDSDocumentEntryPatientId": new_patient_id(), "$XDSDocumentEntryStatus": [Status.APPROVED.value],
         "$XDSDocumentEntryClassCode": ["c1^^1.2.3", "c2^^1.2.3"]},
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    schema_validation.xds_schema()  # compiled once per process, not measured
    print(f"{platform.python_implementation()} {platform.python_version()}, lxml {etree.__version__}, "
          f"libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}")
    print(f"{'body':<44} {'bytes':>8} {'validate ms':>12} {'parse ms':>9}")
    for label, body in bodies().items():
        raw = etree.tostring(body)
        element = xmlsafe.parse_bytes(raw)
        assert schema_validation.violations(element, ErrorCode.XDSRegistryMetadataError) == []
        rounds = args.rounds if len(raw) < 100_000 else max(args.rounds // 10, 5)
        validate = _median_ms(lambda el=element: schema_validation.violations(el, ErrorCode.XDSRegistryError), rounds)
        parse = _median_ms(lambda data=raw: xmlsafe.parse_bytes(data), rounds)
        print(f"{label:<44} {len(raw):>8} {validate:>12.3f} {parse:>9.3f}")


if __name__ == "__main__":
    main()
