"""Attack corpus (issue 16): hostile requests against the running services, each with the answer the
protocol says it must get, looped by one test (`tests/harness/test_attacks.py`).

An `Attack` sends one hostile input (or opens hostile connections) to the services of a
`harness.cluster.Cluster` started as `make run` starts them, and reads what came back into an `Answer`; its
`expect` says whether that answer is the right one (a SOAP fault with its code, a RegistryResponse with an
exact error code, an HTTP status, an HL7 ACK code, a rejected audit record, a connection closed in time).
`run(cluster)` plays every attack and returns what was wrong, if anything. The corpus itself is in
`harness.attacks.corpus` (XML, MTOM, metadata, HTTP, MLLP, syslog) and `harness.attacks.queries` (SQL
metacharacters and LIKE patterns in every stored-query parameter).

Beyond each answer, `run` checks what no answer shows: nothing of the attacks was stored (the attack patient
has no DocumentEntry or SubmissionSet, the repository's spool is empty), no external entity was fetched (a
canary listener no one may connect to), /etc/passwd was never echoed, and the services still serve a
valid submission.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lxml import etree

from xdscore import mtom, soap
from xdscore.vocabulary import NS

SOAP_TYPE = "application/soap+xml; charset=utf-8"
PASSWD_MARK = b"root:x:0:0"  # what /etc/passwd would put in an answer if an entity were resolved


@dataclass
class Answer:
    """What came back, whatever the channel."""

    http: int | None = None
    fault: tuple[str, str] | None = None  # (code, reason) of a SOAP fault
    status: str | None = None  # the tail of a RegistryResponse / AdhocQueryResponse status
    codes: tuple[str, ...] = ()  # its RegistryError codes
    ack: str | None = None  # MSA-1 of an HL7 ACK
    closed_after: float | None = None  # seconds until the service closed the connection
    raw: bytes = b""
    note: str = ""

    def __str__(self) -> str:
        parts = [f"HTTP {self.http}" if self.http is not None else "", f"fault {self.fault}" if self.fault else "",
                 f"status {self.status} {list(self.codes)}" if self.status else "",
                 f"ACK {self.ack}" if self.ack else "",
                 f"closed after {self.closed_after:.1f}s" if self.closed_after is not None else "", self.note]
        return " ".join(p for p in parts if p) or f"nothing: {self.raw[:200]!r}"


Expect = Callable[[Answer], bool]


@dataclass(frozen=True)
class Attack:
    name: str
    send: Callable[[Targets], Answer]
    expect: Expect
    says: str  # the right answer, in words (for the failure message)


@dataclass
class Targets:
    """Where the attacks go: the cluster's services, the attack patient (known to the registry, so a refusal
    is the attack's doing), and the canary an external entity would be fetched from."""

    registry_url: str
    repository_url: str
    feed: tuple[str, int]
    audit_udp: tuple[str, int]
    audit_http: str
    patient: str
    canary: Canary
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))


class Canary:
    """A TCP listener counting connections: any connection is an external entity or XInclude resolved."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = int(self.socket.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def url(self, path: str = "x") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.socket.close()


# --- reading answers -------------------------------------------------------------------------------

def read_soap(status: int, content_type: str, data: bytes) -> Answer:
    """A SOAP answer (plain or MTOM) as an Answer: its fault, or its response status and error codes."""
    answer = Answer(http=status, raw=data)
    try:
        ctype = mtom.ContentType.parse(content_type)
        if ctype.is_multipart:
            data = mtom.decode_message(data, ctype).root
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except Exception as exc:  # noqa: BLE001 - an answer that is not SOAP is itself what the attack found
        answer.note = f"not a SOAP answer ({type(exc).__name__}: {exc})"[:300]
        return answer
    fault = soap.read_fault(root)
    if fault is not None:
        answer.fault = (fault.code, fault.reason)
        return answer
    for tag in (f"{{{NS.RS}}}RegistryResponse", f"{{{NS.QUERY}}}AdhocQueryResponse"):
        found = root.find(f".//{tag}")
        if found is not None:
            answer.status = found.get("status", "").rsplit(":", 1)[-1]
            answer.codes = tuple(e.get("errorCode", "") for e in found.iter(f"{{{NS.RS}}}RegistryError"))
            return answer
    answer.note = "a SOAP answer with neither a fault nor a RegistryResponse"
    return answer


def post(targets: Targets, url: str, body: bytes, content_type: str | None = SOAP_TYPE,
         headers: dict[str, str] | None = None) -> Answer:
    sent = dict(headers or {})
    if content_type is not None:
        sent["content-type"] = content_type
    try:
        r = targets.client.post(url, content=body, headers=sent)
    except httpx.HTTPError as exc:
        return Answer(note=f"no answer: {type(exc).__name__}: {exc}"[:300])
    return read_soap(r.status_code, r.headers.get("content-type", ""), r.content)


# --- expectations ------------------------------------------------------------------------------------

def sender_fault(reason: str = "", http: int = 400) -> tuple[Expect, str]:
    def check(a: Answer) -> bool:
        return a.http == http and a.fault is not None and a.fault[0] == "soap:Sender" and reason in a.fault[1]
    return check, f"HTTP {http} soap:Sender fault" + (f" saying {reason!r}" if reason else "")


def refused(code: str, http: int = 200) -> tuple[Expect, str]:
    def check(a: Answer) -> bool:
        return a.http == http and a.status == "Failure" and code in a.codes
    return check, f"a Failure RegistryResponse with {code}"


def either(*expectations: tuple[Expect, str]) -> tuple[Expect, str]:
    def check(a: Answer) -> bool:
        return any(e(a) for e, _ in expectations)
    return check, " or ".join(s for _, s in expectations)


def attack(name: str, send: Callable[[Targets], Answer], expectation: tuple[Expect, str]) -> Attack:
    return Attack(name, send, expectation[0], expectation[1])


# --- the run -----------------------------------------------------------------------------------------

@dataclass
class Result:
    attack: str
    answer: Answer
    wrong: str | None
    seconds: float


def play(attacks: list[Attack], targets: Targets) -> list[Result]:
    results = []
    for a in attacks:
        started = time.monotonic()
        try:
            answer = a.send(targets)
        except Exception as exc:  # noqa: BLE001 - the harness reports, it does not stop at the first
            answer = Answer(note=f"the attack itself failed: {type(exc).__name__}: {exc}"[:300])
        wrong = None
        if PASSWD_MARK in answer.raw:
            wrong = "/etc/passwd in the answer"
        elif not a.expect(answer):
            wrong = f"expected {a.says}; got {answer}"
        results.append(Result(a.name, answer, wrong, round(time.monotonic() - started, 2)))
    return results


def stored_files(repository_dir: Path) -> tuple[list[Path], list[str]]:
    """(spool files, stored documents) under the repository's folder: spool files are attachments still
    arriving, or left by a request that was refused or cut; stored documents are its blob files
    (`repository.blobs`), its document rows and the bytes it keeps for small documents (`kept:<sha1>`,
    `row:<uniqueId>`, read from its SQLite store)."""
    files = [p for p in repository_dir.rglob("*") if p.is_file()]
    stored = [str(p) for p in files if "blobs" in p.parts]
    database = repository_dir / "repository.db"
    if database.exists():
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            stored += [f"row:{r[0]}" for r in db.execute("SELECT unique_id FROM repository_document")]
            stored += [f"kept:{r[0]}" for r in db.execute("SELECT sha1 FROM repository_content")]
    return [p for p in files if p.name.startswith("spool-")], stored
