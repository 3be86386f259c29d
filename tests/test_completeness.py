"""Completeness: every error code is raised by a rule of the catalog (`xdscore.rules.catalog`, and the
profiles' cardinality rows) or said not to be (and why), so removing a rule from the catalog fails here;
every rule says its TF section; every stored query has a parameter table and a handler; every wsa:Action a
service is asked for has a transaction behind it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import registry.app  # noqa: F401  (the two services import every module that registers rules)
import repository.app  # noqa: F401
from registry.query import QUERIES
from xdscore.profiles.ihe import PROFILE as IHE
from xdscore.queries import SPECS
from xdscore.rules.catalog import RULES, Catalog
from xdscore.rules.objects import OBJECT_RULES
from xdscore.rules.submission import SUBMISSION_RULES
from xdscore.vocabulary import Action, ErrorCode, StoredQueryId

ROOT = Path(__file__).resolve().parent.parent

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


def raised(catalog: Catalog) -> set[ErrorCode]:
    return catalog.codes() | {row.code for row in IHE.rows}


def missing(catalog: Catalog) -> set[ErrorCode]:
    return {code for code in ErrorCode if code not in NOT_RAISED and code not in raised(catalog)}


def test_every_error_code_is_raised_or_explained() -> None:
    assert missing(RULES) == set(), "raised by no rule of the catalog and not listed as 'not raised, because'"
    assert {code for code in NOT_RAISED if code in raised(RULES)} == set(), "raised now: drop from NOT_RAISED"


def test_removing_a_rule_from_the_catalog_is_noticed() -> None:
    assert missing(RULES.without("REG-patient")) == {ErrorCode.XDSUnknownPatientId}
    for rule in RULES:  # whatever a rule alone raises goes missing without it
        alone = set(rule.codes) - raised(RULES.without(rule.rule_id))
        assert missing(RULES.without(rule.rule_id)) == alone


def test_every_rule_names_its_section() -> None:
    for rule in RULES:
        assert rule.reference.startswith(("ITI TF-", "ebRIM 3.0")) and rule.codes and rule.family, rule
    for row in IHE.rows:
        assert row.rule_id and row.ref.startswith("ITI TF-"), row


def test_no_two_attributes_share_a_tf_reference() -> None:
    """Each attribute of TF-3 4.2.3.2-4 has its own section: a reference used by two attributes is wrong."""
    per_reference = {row.ref: {(r.kind, r.label) for r in IHE.rows if r.ref == row.ref} for row in IHE.rows}
    assert {ref: names for ref, names in per_reference.items() if len(names) > 1} == {}
    assert [rid for rid, n in Counter(row.rule_id for row in IHE.rows).items() if n > 1] == []


@pytest.mark.parametrize(("rules", "family"), [(OBJECT_RULES, "object"), (SUBMISSION_RULES, "submission")])
def test_what_runs_is_the_catalog(rules: tuple[object, ...], family: str) -> None:
    assert rules == RULES.family(family) and len(rules) >= 7


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
