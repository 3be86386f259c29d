"""A stream of requests with names never seen before leaves the registry's and the repository's memory
where it was (issue 16: libxml2 keeps parsed names for the parsing thread's life; xdsservice.names parses
such bodies on threads that then exit). Against `python -m registry` and `python -m repository`: envelopes
small enough to be parsed on the event loop, large ones (parse threads), MTOM root parts (the repository's
streaming intake and the registry's in-memory MTOM path); then an ordinary ITI-42 and ITI-18 still pass.

Without the fix (every body parsed where it was before, glibc's default arenas) the same stream grew the
registry by 150 MB and the repository by 38 MB; with it, +1-14 MB and +0-5 MB (docs/reliability.md has
the long run, 10 x 200,000 names)."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.builders import new_patient_id
from harness.newnames import HEADERS, hostile, ordinary, rss_mb
from harness.services import feed_patient, start_registry, start_repository
from xdscore import mtom
from xdscore.vocabulary import Action


def post(url: str, payload: bytes) -> int:
    return httpx.post(url, content=payload, headers=HEADERS, timeout=60).status_code


def post_mtom(url: str, root: bytes, action: Action) -> int:
    part = mtom.StreamingPart("doc1", "text/plain", 3, lambda: [b"abc"])
    content_type, body = mtom.encode_message(root, [part], action.value)
    return httpx.post(url, content=body, headers={"Content-Type": content_type}, timeout=60).status_code


def test_new_names_leave_memory_where_it_was(tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry")
    repository = start_repository(tmp_path / "repository", registry.url)
    try:
        patient = new_patient_id()
        feed_patient(registry.feed_port, patient)
        for _ in range(3):  # the ordinary vocabulary is learned; the services are warm
            assert ordinary(registry.url, patient)
            post(registry.url, hostile(10, Action.REGISTER))
            post_mtom(repository.url, hostile(10, Action.PROVIDE_AND_REGISTER), Action.PROVIDE_AND_REGISTER)
        before = rss_mb(registry.process.pid), rss_mb(repository.process.pid)

        statuses = set()
        for _ in range(40):  # 140,000 names parsed on the event loop (each body below PARSE_INLINE_BYTES)
            statuses.add(post(registry.url, hostile(3_500, Action.REGISTER)))
        for _ in range(4):  # 400,000 names in bodies of 3.5 MB (parse threads)
            statuses.add(post(registry.url, hostile(100_000, Action.REGISTER)))
        for _ in range(5):  # 100,000 names in MTOM root parts, to each service
            statuses.add(post_mtom(registry.url, hostile(20_000, Action.REGISTER), Action.REGISTER))
            statuses.add(post_mtom(repository.url, hostile(20_000, Action.PROVIDE_AND_REGISTER),
                                   Action.PROVIDE_AND_REGISTER))
        for _ in range(20):  # 70,000 names in small ITI-41s (the repository's plain SOAP path)
            statuses.add(post(repository.url, hostile(3_500, Action.PROVIDE_AND_REGISTER)))
        after = rss_mb(registry.process.pid), rss_mb(repository.process.pid)

        assert ordinary(registry.url, patient)  # the registry still answers as before
    finally:
        repository.stop()
        registry.stop()

    assert statuses <= {200, 400}, statuses  # refused: a Sender fault or a RegistryResponse error
    assert after[0] < before[0] + 20, (before, after)
    assert after[1] < before[1] + 12, (before, after)
