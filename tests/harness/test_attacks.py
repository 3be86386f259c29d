"""The attack corpus (harness.attacks) looped by one test against registry, repository and audit sink as
`make run` starts them: every attack gets its answer, nothing of any attack is stored or left in the spool,
no external entity is fetched, and the services go on serving valid requests and another patient's data."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from lxml import etree

from harness import attacks
from harness.attacks import corpus, queries
from harness.builders import SubmissionBuilder, new_patient_id
from harness.cluster import Cluster
from harness.services import feed_patient
from harness.wire import Content, builder_without_repository_slots, provide
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import Action, Status
from xdscore.vocabulary import StoredQueryId as Q

SETTINGS = {
    "XDS_REGISTRY_IDLE_TIMEOUT": "2", "XDS_REPOSITORY_IDLE_TIMEOUT": "2", "XDS_REGISTRY_FEED_IDLE_TIMEOUT": "2",
    "XDS_REPOSITORY_MAX_REQUEST_BYTES": str(32 * 1024 * 1024),
}
ALL_STATUSES = [Status.APPROVED.value, Status.DEPRECATED.value]


def _query(cluster: Cluster, query: Q, params: dict[str, str | list[str]]) -> bytes:
    body = etree.tostring(soap.request_envelope(encode_request(query, params, ReturnType.LEAF_CLASS),  # type: ignore[arg-type]
                                                Action.STORED_QUERY.value))
    r = httpx.post(cluster.registry_url, content=body, headers={"content-type": attacks.SOAP_TYPE}, timeout=30)
    assert b"ResponseStatusType:Success" in r.content, r.content[-500:]
    return r.content


def test_every_attack_gets_its_answer_and_leaves_nothing_behind(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, audit=True, env=SETTINGS)
    cluster.start_all()
    canary = attacks.Canary()
    patient, bait = new_patient_id(), new_patient_id()
    targets = attacks.Targets(cluster.registry_url, cluster.repository_url, cluster.feed,
                              ("127.0.0.1", cluster.ports["audit_udp"]), f"http://127.0.0.1:{cluster.ports['audit_http']}",
                              patient, canary)
    try:
        for p in (patient, bait):
            feed_patient(cluster.ports["feed"], p)
        # The bait: another patient's documents, through the registry and through the repository.
        builder = SubmissionBuilder(bait).with_submission_set()
        builder.add_document()
        register = etree.tostring(soap.request_envelope(builder.xml(), Action.REGISTER.value))
        assert b"Success" in httpx.post(cluster.registry_url, content=register, headers={"content-type": attacks.SOAP_TYPE}).content
        assert provide(targets.client, cluster.repository_url, builder_without_repository_slots(bait),
                       {"Document01": Content.of(b"bait document")}).status == "Success"
        _, blobs_before = attacks.stored_files(tmp_path / "repository")

        results = attacks.play(corpus.corpus() + queries.corpus(), targets)

        time.sleep(1.0)  # a cut request's spool file is removed when the service notices the cut
        spooled, blobs_after = attacks.stored_files(tmp_path / "repository")
        own = _query(cluster, Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": ALL_STATUSES})
        own_sets = _query(cluster, Q.FindSubmissionSets, {"$XDSSubmissionSetPatientId": patient,
                                                          "$XDSSubmissionSetStatus": [Status.APPROVED.value]})
        baits = _query(cluster, Q.FindDocuments, {"$XDSDocumentEntryPatientId": bait, "$XDSDocumentEntryStatus": ALL_STATUSES})
        # Control: where the TF allows a LIKE pattern, % does match the bait (so a leak would have shown).
        liked = _query(cluster, Q.FindDocuments, {"$XDSDocumentEntryPatientId": bait, "$XDSDocumentEntryStatus": ALL_STATUSES,
                                                  "$XDSDocumentEntryAuthorPerson": ["%"]})
        # Still serving: a valid ITI-41 after everything.
        data = b"after the attacks"
        after = provide(targets.client, cluster.repository_url, builder_without_repository_slots(patient),
                        {"Document01": Content.of(data)})
        logs = {name: cluster.log(name) for name in ("registry", "repository", "audit")}
    finally:
        canary.close()
        targets.client.close()
        cluster.stop()

    wrong = [f"{r.attack}: {r.wrong}" for r in results if r.wrong]
    assert not wrong, f"{len(wrong)} of {len(results)} attacks got a wrong answer:\n" + "\n".join(wrong)
    assert len(results) > 500
    assert canary.connections == 0  # no entity, DTD or XInclude was fetched
    assert b"ExtrinsicObject" not in own and b"RegistryPackage" not in own_sets  # nothing stored
    assert spooled == [] and sorted(blobs_after) == sorted(blobs_before), (spooled, set(blobs_after) - set(blobs_before))
    assert baits.count(b"<rim:ExtrinsicObject") == 2  # the bait is intact (nothing dropped or deleted)
    assert liked.count(b"<rim:ExtrinsicObject") == 2
    reached_sql = sum(r.answer.status == "Success" for r in results if "$" in r.attack)
    assert reached_sql > 300, reached_sql  # many hostile values were valid enough to reach the SQL finders
    assert after.status == "Success", after.error_codes
    for name, text in logs.items():
        assert "Traceback" not in text, f"{name} logged a stack trace:\n{text[-3000:]}"
