"""ITI-43 bounded on a running repository (issue 18: a 217 KB request once streamed back 1 GB): more
DocumentRequests than `max_retrieve_documents` are refused as a whole, over HTTP, before any lookup."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.services import start_repository
from harness.wire import post_simple, retrieve_element, simple_request
from repository.config import RepositorySettings
from xdscore.vocabulary import Action


def test_a_running_repository_refuses_more_document_requests_than_its_cap(tmp_path: Path) -> None:
    repository_id = RepositorySettings().repository_unique_id
    # no registry is needed to retrieve: its address is never called
    repository = start_repository(tmp_path / "repository", "http://127.0.0.1:9/xds/registry",
                                  env={"XDS_REPOSITORY_MAX_RETRIEVE_DOCUMENTS": "2"})
    try:
        with httpx.Client(timeout=30) as client:
            def ask(n: int):  # type: ignore[no-untyped-def]
                body = retrieve_element(*((repository_id, f"1.2.250.1.999.9.{i}") for i in range(n)))
                return post_simple(client, repository.url, *simple_request(body, Action.RETRIEVE))

            over, within = ask(3), ask(2)
    finally:
        repository.stop()
    assert (over.status_code, over.status, over.error_codes) == (200, "Failure", ["XDSRepositoryError"])
    (error,) = over.registry_response.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")
    assert "2" in error.get("codeContext", "") and over.documents() == {}
    assert within.status == "Failure" and set(within.error_codes) == {"XDSDocumentUniqueIdError"}  # looked up
