"""An acknowledged ITI-41 / ITI-42 survives a power cut (issue 17: Success must mean durable).

A power cut loses what was written but not synced: what survives is what the disk had when the answer
left. So, for one ITI-42 sent to the registry and one ITI-41 sent to the repository (which registers it
with the registry), the services' system calls are traced (strace) while they serve it, and the test
checks, in each process, that every file written before the Success answer went out (SQLite's WAL and
database, the blob) was fsynced after its last write and before that answer, and that every link or
rename that filed a blob was followed by an fsync of its folder before the answer. The repository's one
exception, by design: its pending → stored flip after the registry's answer is not synced (a lost flip
is settled with the registry, repository.reconcile); everything it wrote before sending the ITI-42 is. Then both services are
killed outright (SIGKILL: no close, no checkpoint, nothing flushed on the way out), started again on the
same files, and the submissions are there: found by a stored query, and the document retrieved
byte-identical.

strace needs ptrace rights on the services (root, or kernel.yama.ptrace_scope 0); without them the
syscall part is skipped and the restart part still runs.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.builders import new_patient_id, single_document
from harness.services import Service, feed_patient, start_registry, start_repository
from harness.wire import (
    Content,
    builder_without_repository_slots,
    post_simple,
    provide,
    retrieve_element,
    simple_request,
)
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, UUID, Action, ResponseStatus
from xdscore.vocabulary import StoredQueryId as Q

REPOSITORY_UNIQUE_ID = "1.19.6.24.109.42.1"
SYSCALLS = "write,pwrite64,writev,pwritev,pwritev2,fsync,fdatasync,sendto,sendmsg,link,linkat,rename,renameat,renameat2"
# strace -f -tt -y: "TID HH:MM:SS.micro name(args) = result", possibly split in "<unfinished ...>" and
# "<... name resumed>" when threads interleave.
LINE = re.compile(r"^(\d+)\s+(\d\d):(\d\d):(\d\d\.\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
FD = re.compile(r"^\d+<(.*?)>(?:\(deleted\))?(?:,|\)|$)")  # "18<TCP:[a:1->b:2]>," or "4</path/file>," or
# "5</data/tmp/#123>(deleted)," (a nameless O_TMPFILE file, repository.blobs)
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass
class Call:
    name: str
    start: float
    end: float
    args: str

    @property
    def target(self) -> str:
        """The path or socket of the call's first argument (strace -y), else ""."""
        found = FD.match(self.args)
        return found.group(1) if found else ""


@dataclass
class Trace:
    calls: list[Call] = field(default_factory=list)

    @classmethod
    def read(cls, text: str) -> Trace:
        trace, pending = cls(), {}
        for line in text.splitlines():
            m = LINE.match(line)
            if not m:
                continue
            tid, h, mi, s, rest = m.groups()
            when = int(h) * 3600 + int(mi) * 60 + float(s)
            resumed = RESUMED.match(rest)
            if resumed:
                started = pending.pop(tid, None)
                if started is not None:
                    trace.calls.append(Call(started[0], started[1], when, started[2] + resumed.group(2)))
                continue
            call = CALL.match(rest)
            if not call:
                continue
            if rest.endswith("<unfinished ...>"):
                pending[tid] = (call.group(1), when, call.group(2))
            else:
                trace.calls.append(Call(call.group(1), when, when, call.group(2)))
        trace.calls.sort(key=lambda c: c.start)
        return trace

    def answer_time(self, port: int) -> float:
        """When the first `HTTP/1.1 200` left on a connection to `port` (the Success answer)."""
        for c in self.calls:
            if c.name in ("write", "writev", "sendto", "sendmsg") and f":{port}->" in c.target and "HTTP/1.1 200" in c.args:
                return c.start
        raise AssertionError(f"no HTTP answer from port {port} in the trace")

    def request_time(self, port: int) -> float:
        """When the first HTTP POST left on a connection to `port` (the repository's ITI-42 to the registry)."""
        for c in self.calls:
            if c.name in ("write", "writev", "sendto", "sendmsg") and f":{port}]" in c.target and "POST " in c.args:
                return c.start
        raise AssertionError(f"no HTTP request to port {port} in the trace")

    def unsynced_before(self, deadline: float) -> list[str]:
        """What was written, linked or renamed before `deadline` and not fsynced after, before it."""
        problems = []
        synced = [(c.end, c.target) for c in self.calls if c.name in ("fsync", "fdatasync") and c.end <= deadline]
        for c in self.calls:
            if c.start >= deadline:
                break
            if c.name in ("write", "pwrite64", "writev", "pwritev", "pwritev2"):
                path = c.target
                if not path.startswith("/") or path.endswith(("-shm", ".log")) or path.startswith("/dev/"):
                    continue  # sockets, pipes, logs, SQLite's shared-memory index (never synced by design)
                if not any(t == path and when >= c.end for when, t in synced):
                    problems.append(f"{c.name} to {path} at {c.start:.6f} never fsynced before the answer")
            elif c.name in ("link", "linkat", "rename", "renameat", "renameat2"):
                paths = QUOTED.findall(c.args)
                folder = str(Path(paths[-1]).parent) if paths else ""
                if not any(t == folder and when >= c.end for when, t in synced):
                    problems.append(f"{c.name} into {folder} at {c.start:.6f}: folder never fsynced before the answer")
        return problems


class Traced:
    """strace attached to a running service (all its threads) until stopped."""

    def __init__(self, service: Service, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            ["strace", "-f", "-tt", "-yy", "-s", "48", "-e", f"trace={SYSCALLS}", "-p", str(service.process.pid), "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        assert self.proc.stderr is not None
        while time.time() < deadline:  # "Process N attached" on stderr once it traces
            line = self.proc.stderr.readline().decode(errors="replace")
            if "attached" in line:
                return
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("strace could not attach")

    def stop(self) -> Trace:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(20)
        return Trace.read(self.out.read_text(errors="replace"))


def can_trace() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.Popen(["sleep", "5"])
    try:
        done = subprocess.run(["strace", "-p", str(probe.pid), "-e", "trace=none", "-o", "/dev/null"],
                              capture_output=True, timeout=2)
        return b"attached" in done.stderr and b"Operation not permitted" not in done.stderr
    except subprocess.TimeoutExpired:  # attached, and tracing until the timeout: allowed
        return True
    finally:
        probe.kill()
        probe.wait()


TRACEABLE = can_trace()


def post_register(url: str, body: etree._Element) -> etree._Element:
    env = etree.tostring(soap.request_envelope(body, Action.REGISTER.value), xml_declaration=True, encoding="UTF-8")
    reply = httpx.post(url, content=env, headers={"Content-Type": "application/soap+xml"}, timeout=60)
    found = etree.fromstring(reply.content).find(f"{{{NS.SOAP12}}}Body")
    assert found is not None
    return found[0]


def registered_unique_ids(registry: Service, patient: str) -> set[str]:
    query = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient,
                                             "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]},
                           ReturnType.LEAF_CLASS)
    env = etree.tostring(soap.request_envelope(query, Action.STORED_QUERY.value), xml_declaration=True, encoding="UTF-8")
    reply = etree.fromstring(httpx.post(registry.url, content=env, headers={"Content-Type": "application/soap+xml"},
                                        timeout=60).content)
    return {e.get("value", "") for e in reply.iter(f"{{{NS.RIM}}}ExternalIdentifier")
            if e.get("identificationScheme") == UUID.DE_UNIQUE_ID}


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def kill(*services: Service) -> None:
    for s in services:
        s.process.send_signal(signal.SIGKILL)
        s.process.wait(10)


def test_acknowledged_submissions_survive_a_power_cut(data: Path) -> None:
    registry = start_registry(data / "registry")
    repository = start_repository(data / "repository", registry.url)
    try:
        patient = new_patient_id()
        assert "MSA|AA" in feed_patient(registry.feed_port, patient)

        # ITI-42 straight to the registry, traced
        builder = single_document(patient)
        registered = builder.get("Document01").external_id(UUID.DE_UNIQUE_ID)
        traced = Traced(registry, data / "registry.strace") if TRACEABLE else None
        answer = post_register(registry.url, builder.xml())
        assert answer.get("status") == ResponseStatus.SUCCESS.value
        if traced is not None:
            trace = traced.stop()
            assert any(c.name in ("fsync", "fdatasync") and c.target.endswith("registry.db-wal") for c in trace.calls)
            assert trace.unsynced_before(trace.answer_time(registry.ports["http"])) == []

        # ITI-41 through the repository, both processes traced: a 1 KB document (kept in the repository's
        # store, with its row) and a 100 KB one (above inline_max_bytes: a blob file)
        document, large = b"compte rendu " + bytes(range(256)) * 4, bytes(range(256)) * 400
        pnr = builder_without_repository_slots(patient, documents=2)
        entries = [o for o in pnr.objects if o.tag == "ExtrinsicObject"]
        provided, provided_large = (next(e.value for e in entry.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)
                                    for entry in entries)
        traces = [Traced(s, data / f"{s.name}-41.strace") for s in (repository, registry)] if TRACEABLE else []
        with httpx.Client(timeout=60) as client:
            reply = provide(client, repository.url, pnr, {entries[0].id: Content.of(document), entries[1].id: Content.of(large)})
        assert (reply.status, reply.error_codes) == ("Success", [])
        if traces:
            repository_trace, registry_trace = (t.stop() for t in traces)
            # the large one's blob: a nameless O_TMPFILE file, or a named spool file where the file system has no O_TMPFILE
            assert any(c.name == "fdatasync" and re.search("/tmp/(#|spool-)", c.target) for c in repository_trace.calls)
            # Both are durable before the ITI-42 leaves (a registered document always has its bytes): the small
            # one's bytes by the reserving commit's WAL sync, the large one's by its file's.
            sent = repository_trace.request_time(registry.ports["http"])
            assert any(c.name in ("fsync", "fdatasync") and c.target.endswith("repository.db-wal") and c.end <= sent
                       for c in repository_trace.calls)
            assert repository_trace.unsynced_before(sent) == []
            # After the registry's answer, the pending → stored flip is the one write not synced before the
            # answer (repository.store `commit`: a lost flip is settled with the registry, on read or later).
            answered = repository_trace.answer_time(repository.ports["http"])
            assert not any(c.name in ("fsync", "fdatasync") and c.target.endswith("repository.db-wal")
                           and sent < c.start < answered for c in repository_trace.calls)
            flip = repository_trace.unsynced_before(answered)
            assert flip and all("repository.db-wal at " in problem for problem in flip), flip
            assert registry_trace.unsynced_before(registry_trace.answer_time(registry.ports["http"])) == []

        kill(repository, registry)  # the power cut, as far as the processes are concerned
    finally:
        repository.stop()
        registry.stop()

    registry = start_registry(data / "registry")
    repository = start_repository(data / "repository", registry.url)
    try:
        assert {registered, provided, provided_large} <= registered_unique_ids(registry, patient)
        content_type, request = simple_request(retrieve_element((REPOSITORY_UNIQUE_ID, provided)), Action.RETRIEVE)
        with httpx.Client(timeout=60) as client:
            got = post_simple(client, repository.url, content_type, request)
        assert got.status == "Success"
        assert got.documents()[provided][1] == document
        content_type, request = simple_request(retrieve_element((REPOSITORY_UNIQUE_ID, provided_large)), Action.RETRIEVE)
        with httpx.Client(timeout=60) as client:
            assert post_simple(client, repository.url, content_type, request).documents()[provided_large][1] == large
    finally:
        repository.stop()
        registry.stop()
