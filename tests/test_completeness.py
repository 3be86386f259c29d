"""Completeness: every error code is raised somewhere or said not to be (and why); every stored query has a
parameter table and a handler; every wsa:Action a service is asked for has a transaction behind it.
"""

from __future__ import annotations

import re
from pathlib import Path

from registry.query import QUERIES
from xdscore.queries import SPECS
from xdscore.vocabulary import Action, ErrorCode, StoredQueryId

ROOT = Path(__file__).resolve().parent.parent
ACTOR_SOURCES = ("xdscore", "registry", "repository")

NOT_RAISED = {
    ErrorCode.XDSRegistryOutOfResources: "no resource quota is enforced; the database's own errors become XDSRegistryBusy",
    ErrorCode.XDSRepositoryBusy: "the repository never refuses for load; it streams to disk",
    ErrorCode.PartialFolderContentNotProcessed: "the registry supports folders: nothing is left unprocessed",
    ErrorCode.PartialReplaceContentNotProcessed: "the registry supports RPLC",
    ErrorCode.PartialTransformNotProcessed: "the registry supports XFRM",
    ErrorCode.PartialAppendContentNotProcessed: "the registry supports APND",
    ErrorCode.PartialRelationshipContentNotProcessed: "the registry supports every document relationship",
    ErrorCode.PartialTransformReplaceNotProcessed: "the registry supports XFRM_RPLC",
}

# Actions the services answer; the responses are ours to send, not to receive.
SERVED = {
    Action.REGISTER: "registry",
    Action.STORED_QUERY: "registry",
    Action.PROVIDE_AND_REGISTER: "repository",
    Action.RETRIEVE: "repository",
    Action.UPDATE: "registry",
    Action.RESTRICTED_UPDATE: "registry",
    Action.DELETE: "registry",
    Action.REMOVE_DOCUMENTS: "repository",
}
NOT_SERVED: dict[Action, str] = {}


def _sources() -> str:
    return "\n".join(p.read_text() for d in ACTOR_SOURCES for p in (ROOT / d).rglob("*.py"))


def test_every_error_code_is_raised_or_explained() -> None:
    text = _sources()
    raised = set(re.findall(r"ErrorCode\.([A-Za-z]+)", text))
    for code in ErrorCode:
        if code in NOT_RAISED:
            assert code.name not in raised, f"{code.name} is raised now: drop it from NOT_RAISED"
        else:
            assert code.name in raised, f"{code.name} is raised nowhere and not listed as 'not raised, because'"


def test_every_stored_query_has_parameters_and_a_handler() -> None:
    assert set(SPECS) == set(StoredQueryId) == set(QUERIES)


def test_every_request_action_has_a_transaction() -> None:
    from registry.app import Registry

    handlers = Registry.__dict__
    assert "on_register" in handlers and "on_query" in handlers
    requests = {a for a in Action if not a.value.endswith("Response") and a is not Action.SOAP_FAULT}
    assert requests == set(SERVED) | set(NOT_SERVED)
    registry_src = (ROOT / "registry" / "app.py").read_text()
    repository_src = (ROOT / "repository" / "app.py").read_text()
    for action, service in SERVED.items():
        src = registry_src if service == "registry" else repository_src
        assert f"Action.{action.name}" in src, f"{action.value} is not dispatched by the {service}"
