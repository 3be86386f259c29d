"""Fixtures: the real registry as a process on free ports (harness.services), the repository in-process (ASGI)
or as a process (`python -m repository`) pointed at it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from harness.builders import new_patient_id
from harness.services import Service, feed_patient, start_registry, start_repository
from repository.app import Repository
from repository.config import RepositorySettings
from repository.store import DocumentStore

REPO_ID = "1.19.6.24.109.42.1"


@pytest.fixture(autouse=True)
def no_audit_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process repositories build their audit messages but send none: a test must never reach a sink it
    did not start (the processes of harness.services are started with the same setting)."""
    monkeypatch.setenv("XDS_AUDIT_SENDER_TRANSPORT", "off")


@pytest.fixture(scope="session")
def registry() -> Iterator[Service]:
    with tempfile.TemporaryDirectory(prefix="repo-tests-registry-") as tmp:
        service = start_registry(Path(tmp))
        yield service
        service.stop()


@pytest.fixture
def patient(registry: Service) -> str:
    """A patient id the registry knows (fed over MLLP, ITI-8)."""
    pid = new_patient_id()
    ack = feed_patient(registry.feed_port, pid)
    assert "MSA|AA" in ack, ack
    return pid


def repository_settings(tmp_path: Path, registry_url: str, **overrides: object) -> RepositorySettings:
    env = {**os.environ, "XDS_DATA_DIR": str(tmp_path), "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_CONFIG": os.devnull}
    return RepositorySettings.load(env, registry_url=registry_url, **overrides)


@pytest.fixture
def repository(tmp_path: Path, registry: Service) -> Iterator[Repository]:
    repo = Repository(repository_settings(tmp_path, registry.url))
    yield repo
    repo.registry.close()
    repo.store.close()


@pytest.fixture
async def client(repository: Repository) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=repository.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://repository.test", timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def repository_server(registry: Service) -> Iterator[Service]:
    with tempfile.TemporaryDirectory(prefix="repo-tests-repository-") as tmp:
        service = start_repository(Path(tmp), registry.url)
        yield service
        service.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    """The repository's document store, empty, on SQLite and on PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'r.db'}"
    s = DocumentStore(url)
    yield s
    s.close()
