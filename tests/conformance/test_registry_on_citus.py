"""The NIST kit's registry collections against our registry on a Citus cluster (a coordinator and two workers,
`harness/citus.py`): the registry's tables distributed by patient (`registry/sql/migrations`, 0005) must answer
exactly as on SQLite (`test_against_our_servers.py`). The repository the lifecycle tests need stays on SQLite.
Skipped when the test kit or Citus is absent (`scripts/ensure-citus.sh` builds Citus for `make test`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.results import TestResult
from harness.citus import CitusCluster
from harness.services import start_registry, start_repository
from tests.conformance.test_against_our_servers import REPOSITORY_UID, _members, _run

REGISTRY_COLLECTIONS = ["reg", "reg_catlifecycle", "reg_catfolder", "reg_mu", "reg_rmu", "reg_rm", "reg_rmd_rm"]


@pytest.fixture(scope="module")
def citus_kit_run(citus_cluster: CitusCluster | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TestResult]]:
    if not _members(REGISTRY_COLLECTIONS):
        pytest.skip("NIST test kit not found")
    if citus_cluster is None:
        import os

        url = os.environ["XDS_TEST_CITUS_URL"]
    else:
        url = citus_cluster.create_database("nist_registry")
    work = tmp_path_factory.mktemp("conformance-citus")
    registry = start_registry(work / "registry", database_url=url, profile="nist")
    try:
        repository = start_repository(work / "repository", registry.url, env={"XDS_REPOSITORY_REPOSITORY_UNIQUE_ID": REPOSITORY_UID})
        try:
            results = _run(registry, repository, _members(REGISTRY_COLLECTIONS), None)
        finally:
            repository.stop()
    finally:
        registry.stop()
    yield {r.test_id: r for r in results}


@pytest.mark.parametrize("test_id", _members(REGISTRY_COLLECTIONS) or ["(no test kit)"])
def test_nist_registry_on_citus(citus_kit_run: dict[str, TestResult], test_id: str) -> None:
    result = citus_kit_run[test_id]
    assert result.passed, f"NIST {test_id} on Citus: {result.verdict}: {result.first_failure()}"
