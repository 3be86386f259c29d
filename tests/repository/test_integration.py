"""Registry and repository as real processes on free ports, talking real HTTP (what `make run` starts).

- 1 KB, 10 MB and 200 MB documents go in with ITI-41 and come back byte-identical with ITI-43, both
  directions streamed; the repository's peak memory stays flat during the 200 MB exchange;
- the registry's error for a wrong patient comes back through the repository (NIST 11986);
- an unmodified zeep client built from wsdl/XDS.b_DocumentRepository.wsdl retrieves a document;
- the cleanup command settles a pending document with the registry (ITI-18).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import httpx
import pytest
import zeep

from harness.builders import new_patient_id
from harness.services import Service
from harness.wire import (
    Content,
    builder_without_repository_slots,
    pnr_element,
    provide,
    retrieve_streaming,
)
from repository.cleanup import run as cleanup
from repository.config import RepositorySettings
from repository.provide import Prepared, prepare
from repository.registry_client import RegistryClient
from repository.store import DocumentStore, StoredDocument
from tests.repository.conftest import REPO_ID
from xdscore import mtom
from xdscore.vocabulary import UUID

MiB = 1024 * 1024
REPOSITORY_WSDL = Path(__file__).resolve().parents[2] / "wsdl" / "XDS.b_DocumentRepository.wsdl"


def unique_ids(builder: object) -> list[str]:
    return [
        next(e.value for e in o.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)
        for o in builder.objects  # type: ignore[attr-defined]
        if o.tag == "ExtrinsicObject"
    ]


def peak_rss_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.mark.parametrize("size", [1024, 10 * MiB, 200 * MiB], ids=["1KB", "10MB", "200MB"])
def test_roundtrip_byte_identical(size: int, repository_server: Service, patient: str) -> None:
    content = Content.generated(size, seed=size)
    builder = builder_without_repository_slots(patient)
    (uid,) = unique_ids(builder)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    pid = repository_server.process.pid
    peak_rss_reset(pid)
    before = rss_kib(pid, "VmRSS")
    with httpx.Client(timeout=300) as client:
        reply = provide(client, repository_server.url, builder, {entry_id: content})
        assert (reply.status, reply.error_codes) == ("Success", [])
        status, got_size, got_sha1 = retrieve_streaming(client, repository_server.url, REPO_ID, uid)
    assert (status, got_size, got_sha1) == ("Success", size, content.sha1)
    growth_mib = (rss_kib(pid, "VmHWM") - before) / 1024
    if size >= 10 * MiB:  # memory stays flat whatever the size (bench/repository.py measures it properly)
        assert growth_mib < 48, f"repository peak RSS grew by {growth_mib:.1f} MiB for a {size // MiB} MiB document"


def test_wrong_patient_error_comes_back_through_the_repository(repository_server: Service) -> None:
    builder = builder_without_repository_slots(new_patient_id())  # never fed to the registry
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    with httpx.Client(timeout=60) as client:
        reply = provide(client, repository_server.url, builder, {entry_id: Content.of(b"orphan")})
    assert (reply.status, reply.error_codes) == ("Failure", ["XDSUnknownPatientId"])


def test_unmodified_zeep_client_retrieves(repository_server: Service, patient: str) -> None:
    data = b"%PDF-1.4 retrieved by a stock zeep client"
    builder = builder_without_repository_slots(patient, mime_type="application/pdf")
    (uid,) = unique_ids(builder)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    with httpx.Client(timeout=60) as client:
        assert provide(client, repository_server.url, builder, {entry_id: Content.of(data)}).status == "Success"

    client = zeep.Client(str(REPOSITORY_WSDL))
    binding = "{urn:ihe:iti:xds-b:2007}DocumentRepository_Binding_Soap12"
    service = client.create_service(binding, repository_server.url)
    result = service["DocumentRepository_RetrieveDocumentSet"](
        DocumentRequest=[{"RepositoryUniqueId": REPO_ID, "DocumentUniqueId": uid}, {"RepositoryUniqueId": REPO_ID, "DocumentUniqueId": "1.2.3.unknown"}]
    )
    assert result.RegistryResponse.status == "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
    assert [e.errorCode for e in result.RegistryResponse.RegistryErrorList.RegistryError] == ["XDSDocumentUniqueIdError"]
    (doc,) = result.DocumentResponse
    assert (doc.DocumentUniqueId, doc.RepositoryUniqueId, doc.mimeType, doc.Document) == (uid, REPO_ID, "application/pdf", data)


def test_cleanup_settles_pending_documents_with_the_registry(tmp_path: Path, registry: Service, patient: str) -> None:
    """One pending document the registry holds (→ stored), one it never heard of (→ removed)."""
    settings = RepositorySettings.load({"XDS_DATA_DIR": str(tmp_path)}, registry_url=registry.url)
    store = DocumentStore(settings.database_url)
    registered, unknown = b"registered before the crash", b"never registered"
    builder = builder_without_repository_slots(patient)
    (uid,) = unique_ids(builder)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    body, _ = pnr_element(builder, {entry_id: Content.of(registered)}, inline=True)
    prepared = prepare(body, {}, settings.repository_unique_id)
    assert isinstance(prepared, Prepared)
    # the crash: rows reserved, ITI-42 accepted by the registry, the answer never recorded
    store.reserve([StoredDocument(uid, hashlib.sha1(registered).hexdigest(), len(registered), "text/plain"),
                   StoredDocument("1.2.3.999.never", hashlib.sha1(unknown).hexdigest(), len(unknown), "text/plain")])
    from repository.blobs import BlobStore

    blobs = BlobStore(Path(settings.data_dir))
    blobs.place_bytes(registered, hashlib.sha1(registered).hexdigest())
    blobs.place_bytes(unknown, hashlib.sha1(unknown).hexdigest())
    client = RegistryClient(registry.url)
    answer = asyncio.run(client.register(prepared.submit_objects_request))
    assert answer.status.endswith(":Success")

    report = cleanup(settings, grace_seconds=-1, registry=client)
    assert (report.pending_stored, report.pending_removed, report.registry_unreachable) == ([uid], ["1.2.3.999.never"], False)
    assert store.get(uid) is not None and store.get("1.2.3.999.never") is None
    assert blobs.exists(hashlib.sha1(registered).hexdigest()) and not blobs.exists(hashlib.sha1(unknown).hexdigest())
    client.close()
    store.close()


def test_python_dash_m_repository_cleanup(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "XDS_DATA_DIR": str(tmp_path), "XDS_REPOSITORY_REGISTRY_URL": "http://127.0.0.1:9/none"}
    env.pop("XDS_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "repository", "cleanup", "--dry-run"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "unreferenced blobs would remove: 0" in done.stdout
    assert mtom.ContentType.parse("multipart/related; boundary=x").is_multipart
