"""The DMP platform end to end (XDS_PROFILE=dmp, docs/dmp-access.md, docs/dmp-services.md): a registry and a
repository over HTTPS, the repository reaching the registry over mutual TLS, a real audit sink; callers with
DIRECTE VIHFs (unsigned, the card as TLS client certificate; or signed with the card) and INDIRECTE ones
(signed with the structure's seal).

The patient record is the registry's own (the `dmp/` actor's SQL store), set up and changed as in production:
the patient's choices through the patient API (`/dmp/api`), a professional's authorisation through TD0.3 at
the DMP's path. TD0.2 before and after TD0.3 decides what the professional may search and retrieve; each
caller sees, searches (ITI-18) and retrieves (ITI-43) exactly what the rules allow; ITI-43 refuses exactly
what ITI-18 hides; masking, archiving and deleting (ITI-57) change what each caller sees; the patient's trace
at the sink lists every access with its mode; the announcement timer runs with a short delay.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.builders import (
    DMP_AUTHOR,
    DMP_CONTENT_TYPE,
    DMP_PATIENT,
    INVISIBLE_PATIENT,
    MASQUE_PS,
    SubmissionBuilder,
    dmp_submission,
)
from harness.services import Service, audit_sender_env, feed_patient, start_audit_sink, start_registry
from registry.app import Registry
from registry.config import RegistrySettings
from repository.app import Repository
from repository.config import RepositorySettings
from tests.dmp import messages as m
from tests.dmp.callers import valid_answer
from tests.registry.lifecycle import status_change
from tests.security import fixtures
from tests.security.server import ServerThread
from xdsclient.xop import read_message
from xdscore.dmpws.vocabulary import DmpAction, DmpNS
from xdscore.ebrim import document_entry, rim
from xdscore.model import Code, PatientKey, RimSlot
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, UUID, Action, StoredQueryId
from xdsservice.tls import TlsSettings, client_ssl_context, uvicorn_ssl_kwargs
from xuatool.assertion import (
    ACCESS_BRIS_DE_GLACE,
    ACCESS_NORMAL,
    MEDECIN,
    MEDECINE_GENERALE,
    AssertionSpec,
    build_assertion,
    sign_assertion,
)
from xuatool.assertion import Code as VihfCode
from xuatool.header import request, security_header, timestamp_for
from xuatool.pki import TestPki

pki, now = fixtures.pki, fixtures.now

AUTHOR, DOCTOR, STRANGER, BLOCKED = "899900063480", "810000000001", "810000000007", "810000000009"
NEWCOMER = "810000000003"  # authorised during the tests, by TD0.3
STRUCTURE = "499900063480001"
PATIENT_NIR = DMP_PATIENT.split("^")[0]
PATIENT_KEY = m.key(PATIENT_NIR)
REPOSITORY_ID = "1.2.250.1.213.4.1.1.1.2"
DMP_PREFIX = "/si-dmp-server/v2/services"
N = Code("N", "2.16.840.1.113883.5.25", "Normal")
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
ARCHIVED, DELETED = "urn:asip:ci-sis:2010:StatusType:Archived", "urn:asip:ci-sis:2010:StatusType:Deleted"


@dataclass
class Platform:
    registry: str
    repository: str
    dmp: str  # the registry's base URL of the DMP's services
    api: str  # the patient API of the record
    files: Path
    pki: TestPki
    sink: Service
    data: Path  # XDS_DATA_DIR: where the sink's development TLS certificate is, which the senders trust


@pytest.fixture(scope="module")
def files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dmp-access-pki")
    pki.write(folder)
    return folder


def tls(files: Path) -> TlsSettings:
    return TlsSettings(cert=str(files / "server.pem"), key=str(files / "server.key"),
                       client_ca=str(files / "trust"), client_auth="optional")


@pytest.fixture(scope="module")
def platform(pki: TestPki, files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("dmp-access")
    sink = start_audit_sink(data)
    base = {"XDS_PROFILE": "dmp", "XDS_TRUST_DIR": str(files / "trust"), "XDS_CONFIG": os.devnull,
            "XDS_DATA_DIR": str(data), **audit_sender_env(sink)}
    # The registry: VIHFs optional, since the repository reaches it without one, over mutual TLS; its patient
    # records are the dmp/ actor's, in its own database.
    registry = Registry(RegistrySettings.load({
        **base, "XDS_SECURITY": "optional", "XDS_REGISTRY_FEED_PORT": "0",
        # the repository's client certificate, trusted to act for its callers (docs/dmp.md, trusted forwarder)
        "XDS_REGISTRY_SECURITY_TRUSTED_FORWARDERS": str(files / "client.pem"), "XDS_REGISTRY_TLS_CLIENT_AUTH": "optional",
        "XDS_REGISTRY_TLS_CERT": str(files / "server.pem"), "XDS_REGISTRY_TLS_KEY": str(files / "server.key"),
        "XDS_REGISTRY_TLS_CLIENT_CA": str(files / "trust")}))
    key = PatientKey.parse(DMP_PATIENT)
    assert key is not None
    other = PatientKey.parse(m.cx(m.OTHER))
    assert other is not None
    with registry.store.write() as tx:
        tx.save_patient(key, DMP_PATIENT, {}, "20260101000000")
        tx.save_patient(other, m.cx(m.OTHER), {}, "20260101000000")
    with ServerThread(registry.asgi, **uvicorn_ssl_kwargs(tls(files))) as rs:
        registry_url = rs.url("/xds/registry", "https")
        api = rs.url(f"/dmp/api/patients/{urllib.parse.quote(PATIENT_KEY, safe='')}", "https")
        the_record(api, files)
        repository = Repository(RepositorySettings.load({
            **base, "XDS_SECURITY": "required", "XDS_REPOSITORY_REGISTRY_URL": registry_url,
            "XDS_REPOSITORY_REPOSITORY_UNIQUE_ID": REPOSITORY_ID,
            "XDS_REPOSITORY_REGISTRY_TLS_CA": str(files / "trust" / "ca.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_CERT": str(files / "client.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_KEY": str(files / "client.key")}))
        try:
            with ServerThread(repository.asgi, **uvicorn_ssl_kwargs(tls(files))) as ps:
                yield Platform(registry_url, ps.url("/xds/repository", "https"), rs.url(DMP_PREFIX, "https"), api,
                               files, pki, sink, data)
        finally:
            repository.audit.close()
            registry.audit.close()
            sink.stop()


def patient_api(api: str, files: Path, method: str, path: str, body: dict[str, object] | None = None) -> None:
    """A choice of the patient (Mon espace santé's part) through the registry's patient API (loopback)."""
    r = httpx.request(method, api + path, json=body, verify=client_ssl_context(str(files / "trust")), timeout=30)
    assert r.status_code == 200, r.text


def the_record(api: str, files: Path) -> None:
    """The patient's DMP: open, the author and the doctor authorised, one professional blocked."""
    patient_api(api, files, "POST", "/open")
    for ps in (AUTHOR, DOCTOR):
        patient_api(api, files, "PUT", f"/authorised/ps/{ps}")
    patient_api(api, files, "PUT", f"/blocked/{BLOCKED}")


# --- callers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    name_id: str
    mode: str = "DIRECTE"
    signed: bool = False
    roles: tuple[VihfCode, ...] = (MEDECIN, MEDECINE_GENERALE)
    access: VihfCode = ACCESS_NORMAL
    structure: str = STRUCTURE
    patient: str = DMP_PATIENT  # the VIHF's resource-id

    def header(self, pki: TestPki) -> etree._Element:
        when = dt.datetime.now(dt.UTC)
        spec = AssertionSpec(authentication_mode=self.mode, name_id=self.name_id, roles=list(self.roles),
                             purpose_of_use=[self.access], structure_id=self.structure, resource_id=self.patient,
                             vihf_version="3.0")
        if self.mode == "DIRECTE" and not self.signed:  # KIT-MSG: unsigned, Issuer = the card, no subject-id
            spec = replace(spec, issuer=pki.card.certificate.subject.rfc4514_string(),
                           omit_attributes={"urn:oasis:names:tc:xspa:1.0:subject:subject-id"})
            return security_header(build_assertion(spec, None, when), timestamp_for(when))
        signer = pki.card if self.mode == "DIRECTE" else pki.seal
        return security_header(sign_assertion(build_assertion(spec, signer, when), signer), timestamp_for(when))

    def tls(self, files: Path) -> ssl.SSLContext:
        if self.mode == "DIRECTE" and not self.signed:
            return client_ssl_context(str(files / "trust"), str(files / "card.pem"), str(files / "card.key"))
        return client_ssl_context(str(files / "trust"))


AUTHOR_CARD = Who(AUTHOR)
DOCTOR_CARD = Who(DOCTOR)
DOCTOR_SIGNED = Who(DOCTOR, signed=True)
# The patient's channel is Mon espace santé; here the patient calls with its INS as NameID (docs/dmp-access.md),
# in the role "Expression personnelle du patient" (TRE_A00, the non-PS author role of patient documents).
PATIENT = Who(PATIENT_NIR, roles=(VihfCode("EXP_PATIENT", "1.2.250.1.213.1.1.4.6"),))
STRUCTURE_SEAL = Who(STRUCTURE, mode="INDIRECTE")
EMERGENCY = Who(STRANGER, access=ACCESS_BRIS_DE_GLACE)


def soap_call(p: Platform, url: str, who: Who, body: etree._Element, action: str) -> tuple[etree._Element, dict[str, bytes]]:
    r = httpx.post(url, content=request(body, action, who.header(p.pki)),
                   headers={"content-type": "application/soap+xml"}, verify=who.tls(p.files), timeout=60)
    message = read_message(r.content, r.headers.get("content-type", ""))
    body_el = message.envelope.find(f"{{{NS.SOAP12}}}Body")
    assert body_el is not None, r.content[:500]
    return body_el[0], {cid: a.read() for cid, a in message.attachments.items()}


def provide(p: Platform, who: Who, **document: object) -> tuple[etree._Element, str, str]:
    """ITI-41 (inline documents) of one document and its XAdES signature entry: the answer and both uniqueIds."""
    builder = dmp_submission(**document)
    entries = {de.entry_uuid: de.unique_id or "" for de in builder.submission().document_entries}
    pnr = etree.Element(f"{{{NS.XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
    pnr.append(builder.xml())
    for entry, content in (("Document01", b"hello"), ("Signature01", b"hello")):  # the builder's hash and size
        etree.SubElement(pnr, f"{{{NS.XDSB}}}Document", id=entry).text = base64.b64encode(content).decode()
    answer, _ = soap_call(p, p.repository, who, pnr, Action.PROVIDE_AND_REGISTER.value)
    return answer, entries["Document01"], entries["Signature01"]


def find(p: Platform, who: Who, return_type: ReturnType = ReturnType.LEAF_CLASS) -> tuple[set[str], list[str]]:
    """FindDocuments (Approved) on the DMP's patient: the uniqueIds (or entryUUIDs) returned, and the errors."""
    q = encode_request(StoredQueryId.FindDocuments, {"$XDSDocumentEntryPatientId": DMP_PATIENT, "$XDSDocumentEntryStatus": [APPROVED]},
                       return_type)
    answer, _ = soap_call(p, p.registry, who, q, Action.STORED_QUERY.value)
    ids = {e.get("value", "") for e in answer.iter(f"{{{NS.RIM}}}ExternalIdentifier")
           if e.get("identificationScheme") == UUID.DE_UNIQUE_ID}
    refs = {r.get("id", "") for r in answer.iter(f"{{{NS.RIM}}}ObjectRef")}
    return ids or refs, errors(answer)


def retrieve(p: Platform, who: Who, unique_ids: list[str]) -> tuple[set[str], list[str]]:
    body = etree.Element(f"{{{NS.XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
    for uid in unique_ids:
        dr = etree.SubElement(body, f"{{{NS.XDSB}}}DocumentRequest")
        etree.SubElement(dr, f"{{{NS.XDSB}}}RepositoryUniqueId").text = REPOSITORY_ID
        etree.SubElement(dr, f"{{{NS.XDSB}}}DocumentUniqueId").text = uid
    answer, _ = soap_call(p, p.repository, who, body, Action.RETRIEVE.value)
    served = {(d.findtext(f"{{{NS.XDSB}}}DocumentUniqueId") or "") for d in answer.iter(f"{{{NS.XDSB}}}DocumentResponse")}
    return served, errors(answer)


def errors(answer: etree._Element) -> list[str]:
    """The RegistryErrors of an answer; a SOAP fault fails the test with its reason."""
    assert answer.tag != f"{{{NS.SOAP12}}}Fault", etree.tostring(answer)
    return [f"{e.get('errorCode')}: {e.get('codeContext')}" for e in answer.iter(f"{{{NS.RS}}}RegistryError")]


# --- the scenario ---------------------------------------------------------------------------------------


@dataclass
class Fed:
    documents: dict[str, str]  # name → uniqueId
    signatures: set[str]  # their XAdES signature entries (MASQUE_PS + INVISIBLE_PATIENT, rule 17)

    def everything(self) -> list[str]:
        return sorted({*self.documents.values(), *self.signatures})


@pytest.fixture(scope="module")
def fed(platform: Platform) -> Fed:
    """An author's three documents: plain, masked to professionals, hidden from the patient."""
    out = Fed({}, set())
    for name, codes in (("plain", (N,)), ("masked", (N, MASQUE_PS)), ("invisible", (N, INVISIBLE_PATIENT))):
        answer, uid, signature = provide(platform, AUTHOR_CARD, confidentiality_codes=codes)
        assert answer.get("status", "").endswith("Success"), errors(answer)
        out.documents[name] = uid
        out.signatures.add(signature)
    return out


def test_only_an_author_feeds_and_nothing_is_stored_otherwise(platform: Platform, fed: Fed) -> None:
    answer, uid, _ = provide(platform, DOCTOR_CARD)
    assert answer.get("status", "").endswith("Failure") and "rule 4" in errors(answer)[0]
    assert uid not in find(platform, AUTHOR_CARD)[0]
    answer, _, _ = provide(platform, Who(AUTHOR, mode="INDIRECTE_RENFORCEE", signed=True))  # AIR never feeds
    assert "rule 12" in errors(answer)[0]


def test_each_caller_sees_exactly_what_the_rules_allow(platform: Platform, fed: Fed) -> None:
    documents = fed.documents
    seen, errs = find(platform, AUTHOR_CARD)
    assert errs == [] and seen == set(fed.everything())
    for doctor in (DOCTOR_CARD, DOCTOR_SIGNED):
        assert find(platform, doctor) == ({documents["plain"], documents["invisible"]}, [])
    assert find(platform, PATIENT) == ({documents["plain"], documents["masked"]}, [])
    assert find(platform, EMERGENCY) == ({documents["plain"], documents["invisible"]}, [])
    stranger = find(platform, Who(STRANGER))
    assert stranger[0] == set() and "rule 2" in stranger[1][0]
    blocked = find(platform, Who(BLOCKED))
    assert blocked[0] == set() and "rule 3" in blocked[1][0]
    indirect = find(platform, STRUCTURE_SEAL)
    assert "rule 12" in indirect[1][0]
    refs, errs = find(platform, STRUCTURE_SEAL, ReturnType.OBJECT_REF)  # its structure's references only
    assert errs == [] and len(refs) == 6


@pytest.mark.parametrize("who", [AUTHOR_CARD, DOCTOR_CARD, DOCTOR_SIGNED, PATIENT, EMERGENCY],
                         ids=["author", "doctor-card", "doctor-signed", "patient", "bris-de-glace"])
def test_iti43_refuses_exactly_what_iti18_hides(platform: Platform, fed: Fed, who: Who) -> None:
    everything = fed.everything()
    seen, _ = find(platform, who)
    served, errs = retrieve(platform, who, everything)
    assert served == seen
    assert len(errs) == len(everything) - len(seen)
    assert all(e.startswith("XDSDocumentUniqueIdError") for e in errs)


def test_refusals_of_the_whole_call_reach_iti43_with_their_reason(platform: Platform, fed: Fed) -> None:
    documents = fed.documents
    for who, rule in ((Who(STRANGER), "rule 2"), (Who(BLOCKED), "rule 3"), (STRUCTURE_SEAL, "rule 12")):
        served, errs = retrieve(platform, who, [documents["plain"]])
        assert served == set() and rule in errs[0], errs


def existence(p: Platform, who: Who) -> str:
    """TD0.2 at the DMP's path (`/patients`, TEST_EXST): the AUTORISATION the DMP answers for the caller."""
    answer, _ = soap_call(p, p.dmp + "/patients", who, m.query("TEST_EXST", PATIENT_NIR), DmpAction.GET_DEMOGRAPHICS.value)
    h = f"{{{DmpNS.HL7}}}"
    lines = {line.find(f"{h}keyWordText").get("code"): line.find(f"{h}value").get("code")  # type: ignore[union-attr]
             for line in valid_answer(answer).findall(f"{h}attentionLine")}
    return str(lines.get("AUTORISATION", ""))


def authorise(p: Platform, who: Who, action: str = "AJOUT") -> str:
    """TD0.3 `setAuthorization` at the DMP's path (`/habilitations`): the answer's status."""
    answer, _ = soap_call(p, p.dmp + "/habilitations", who, m.set_authorization(action), DmpAction.SET_AUTHORIZATION.value)
    n = f"{{{DmpNS.HABILITATIONS}}}"
    return valid_answer(answer).findtext(f"{n}output/{n}status") or ""


def test_td02_before_and_after_td03_decides_what_a_professional_sees(platform: Platform, fed: Fed) -> None:
    """A professional not yet authorised: TD0.2 NON_EXISTE, every search and retrieve refused (rule 2); after its
    TD0.3, TD0.2 VALIDE and it sees what a doctor sees, on its card's connection or with a card-signed VIHF;
    after withdrawing, refused again."""
    newcomer, signed = Who(NEWCOMER), Who(NEWCOMER, signed=True)
    documents = fed.documents
    doctors_view = {documents["plain"], documents["invisible"]}
    assert existence(platform, newcomer) == "NON_EXISTE"
    seen, errs = find(platform, newcomer)
    assert seen == set() and "rule 2" in errs[0]
    assert "rule 2" in retrieve(platform, newcomer, [documents["plain"]])[1][0]
    assert authorise(platform, newcomer) == "DMPOk"
    for who in (newcomer, signed):
        assert existence(platform, who) == "VALIDE"
        assert find(platform, who) == (doctors_view, [])
        assert retrieve(platform, who, fed.everything())[0] == doctors_view
    assert authorise(platform, newcomer, "SUPPRESSION") == "DMPOk"
    assert existence(platform, newcomer) == "NON_EXISTE"
    assert "rule 2" in find(platform, newcomer)[1][0]


def test_the_patients_choices_change_what_is_seen(platform: Platform, fed: Fed) -> None:
    documents = fed.documents
    choose = lambda method, path, body=None: patient_api(platform.api, platform.files, method, path, body)  # noqa: E731
    choose("PUT", "/oppositions", {"bris_de_glace": True, "centre_15": False})
    try:
        seen, errs = find(platform, EMERGENCY)
        assert seen == set() and "rule 14" in errs[0]
    finally:
        choose("PUT", "/oppositions", {"bris_de_glace": False, "centre_15": False})
    assert find(platform, EMERGENCY)[1] == []
    choose("PUT", f"/blocked/{DOCTOR}")
    try:
        assert existence(platform, DOCTOR_CARD) == "INTERDIT"
        assert "rule 3" in retrieve(platform, DOCTOR_CARD, [documents["plain"]])[1][0]
        assert authorise(platform, DOCTOR_CARD) != "DMPOk"  # a blocked professional cannot authorise himself
    finally:
        choose("DELETE", f"/blocked/{DOCTOR}")
    # unblocking gives nothing back: the doctor asks again (TD0.3)
    assert existence(platform, DOCTOR_CARD) == "NON_EXISTE"
    assert "rule 2" in retrieve(platform, DOCTOR_CARD, [documents["plain"]])[1][0]
    assert authorise(platform, DOCTOR_CARD) == "DMPOk"
    assert retrieve(platform, DOCTOR_CARD, [documents["plain"]]) == ({documents["plain"]}, [])


def test_a_closed_dmp_and_a_patient_without_dmp_are_refused(platform: Platform) -> None:
    patient_api(platform.api, platform.files, "POST", "/close")
    try:
        answer, _, _ = provide(platform, AUTHOR_CARD)
        assert any("rule 1" in e and "closed" in e for e in errors(answer)), errors(answer)
        assert "rule 1" in find(platform, DOCTOR_CARD)[1][0]
    finally:
        patient_api(platform.api, platform.files, "POST", "/open")
    assert find(platform, DOCTOR_CARD)[1] == []
    other = m.cx(m.OTHER)  # known to the registry (fed), without DMP
    answer, _, _ = provide(platform, Who(AUTHOR, patient=other), patient_id=other)
    assert any("has no DMP" in e for e in errors(answer)), errors(answer)


def trace(p: Platform, kind: str = "accesses", patient: str = DMP_PATIENT) -> list[dict[str, object]]:
    r = httpx.get(f"{p.sink.url}/patients/{urllib.parse.quote(patient, safe='')}/{kind}", params={"limit": "1000"})
    r.raise_for_status()
    return list(r.json()[kind])


def wait_for(p: Platform, kind: str, predicate, timeout: float = 30,  # type: ignore[no-untyped-def]
             patient: str = DMP_PATIENT) -> list[dict[str, object]]:
    deadline, found = time.time() + timeout, []
    while time.time() < deadline:
        found = trace(p, kind, patient)
        if predicate(found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"the sink did not list them in time; it has {found}")


def test_the_patients_trace_lists_every_access_with_its_mode_and_decision(platform: Platform, fed: Fed) -> None:
    retrieve(platform, DOCTOR_CARD, [fed.documents["plain"], fed.documents["masked"]])
    find(platform, EMERGENCY)
    find(platform, Who(STRANGER))

    def by(name_id: str, events: list[dict[str, object]]) -> list[dict[str, object]]:
        return [e for e in events if f"<{name_id}@" in str(e["user"]["id"])]  # type: ignore[index]

    events = wait_for(platform, "accesses", lambda ev: by(STRANGER, ev) and by(EMERGENCY.name_id, ev) and any(
        e["transaction"] == "ITI-43" for e in by(DOCTOR, ev)))
    doctor_43 = [e for e in by(DOCTOR, events) if e["transaction"] == "ITI-43"]
    assert {e["outcome"] for e in doctor_43} == {0, 8}  # the masked document was not retrieved
    assert all(e["access_mode"] == "normal" for e in doctor_43)
    assert any("DMP access (TD3.2): 1 document(s) refused" in str(e["decision"]) for e in doctor_43)
    # the registry's side of the ITI-43 (the forwarded TD3.2 check) names the doctor, not the repository
    assert any(e["transaction"] == "ITI-18" and "médecin 810000000001 (DIRECTE, normal)" in str(e["decision"])
               for e in by(DOCTOR, events))
    # the emergency caller and the unauthorised one are the same professional (STRANGER) in two modes
    searches = [e for e in by(STRANGER, events) if e["transaction"] == "ITI-18"]
    emergency = [e for e in searches if e["access_mode"] == "bris_de_glace"]
    assert emergency and all("DIRECTE, bris_de_glace" in str(e["decision"]) for e in emergency), emergency
    refused = [e for e in searches if e["access_mode"] == "normal"]
    assert refused and all(e["outcome"] == 8 and "rule 2" in str(e["decision"]) for e in refused), refused
    # the DMP's own services are in the trace too: who asked TD0.2 and gave itself TD0.3, in which mode (the
    # services name the patient by its INS without CX.5 / CX.7, as the record does)
    services = wait_for(platform, "accesses", lambda ev: {"TD0.2", "TD0.3"} <= {
        e["transaction"] for e in by(NEWCOMER, ev)}, patient=PATIENT_KEY)
    newcomer = [e for e in by(NEWCOMER, services) if e["transaction"] in ("TD0.2", "TD0.3")]
    assert {e["access_mode"] for e in newcomer} == {"normal"}
    assert {(e["transaction"], e["action"]) for e in newcomer} == {("TD0.2", "R"), ("TD0.3", "U")}
    notes = wait_for(platform, "notifications", lambda ns: {"emergency_access", "first_access"} <= {n["kind"] for n in ns})
    assert any(n["kind"] == "emergency_access" and f"<{EMERGENCY.name_id}@" in str(n["user"]["id"]) for n in notes)  # type: ignore[index]
    firsts = [n for n in notes if n["kind"] == "first_access"]
    assert any(f"<{DOCTOR}@" in str(n["user"]["id"]) for n in firsts)  # type: ignore[index]
    # the refused stranger's first *access* was its bris de glace one
    [stranger_first] = [n for n in firsts if f"<{STRANGER}@" in str(n["user"]["id"])]  # type: ignore[index]
    assert stranger_first["access_mode"] == "bris_de_glace"


def test_the_announcement_timer_with_a_short_delay(platform: Platform, tmp_path: Path) -> None:
    """A registry process (`python -m registry`, its DMP records in its own database, the patient's DMP opened by
    the feed) with a 2 s announcement and a 1 s notice: the patient sees the hidden document once announced, and
    is notified twice."""
    day = 86400.0
    registry = start_registry(platform.data, f"sqlite:///{tmp_path / 'registry.db'}", profile="dmp", env={
        "XDS_SECURITY": "required", "XDS_TRUST_DIR": str(platform.files / "trust"), **audit_sender_env(platform.sink),
        "XDS_DMP_OPEN_ON_FEED": "true",
        "XDS_REGISTRY_ACCESS_ANNOUNCEMENT_DAYS": str(2 / day), "XDS_REGISTRY_ACCESS_NOTICE_DAYS": str(1 / day),
        "XDS_REGISTRY_ACCESS_TIMER_SECONDS": "0.2"})
    try:
        feed_patient(registry.feed_port, DMP_PATIENT)
        author, patient = Who(AUTHOR, signed=True), replace(PATIENT, signed=True)
        builder = dmp_submission(confidentiality_codes=(N, INVISIBLE_PATIENT))
        [uid] = [de.unique_id for de in builder.submission().document_entries if de.entry_uuid == "Document01"]
        answer, _ = soap_call(platform, registry.url, author, builder.xml(), Action.REGISTER.value)
        assert errors(answer) == []
        local = replace(platform, registry=registry.url)
        assert find(local, patient) == (set(), [])  # hidden from the patient until announced
        deadline = time.time() + 20
        while find(local, patient)[0] != {uid} and time.time() < deadline:
            time.sleep(0.2)
        assert find(local, patient) == ({uid}, [])
        notes = wait_for(platform, "notifications", lambda ns: {"announcement_notice", "document_visible"} <= {
            n["kind"] for n in ns if n["document"] == uid})
        kinds = [n["kind"] for n in notes if n["document"] == uid]
        assert kinds == ["document_visible", "announcement_notice"]  # newest first, each once
    finally:
        registry.stop()


# --- DMP operations over ITI-57 (TD3.3a-d) -----------------------------------------------------------------


def update(p: Platform, who: Who, builder: SubmissionBuilder) -> list[str]:
    answer, _ = soap_call(p, p.registry, who, builder.xml(), Action.UPDATE.value)
    return errors(answer)


def dmp_update() -> SubmissionBuilder:
    return SubmissionBuilder(DMP_PATIENT).with_submission_set(
        content_type_code=DMP_CONTENT_TYPE, authors=(DMP_AUTHOR,), source_id="1.2.250.1.999.1.1.7898")


def versioned(p: Platform, who: Who, unique_id: str, codes: tuple[Code, ...]) -> list[str]:
    """TD3.3a / TD3.3b as a DMP client does it: the metadata as found (ITI-18), with these confidentiality
    codes, as a new version (ITI-57, PreviousVersion)."""
    q = encode_request(StoredQueryId.GetDocuments, {"$XDSDocumentEntryUniqueId": [unique_id]})
    answer, _ = soap_call(p, p.registry, AUTHOR_CARD, q, Action.STORED_QUERY.value)
    current = max((document_entry.read(rim.read_object(eo)) for eo in answer.iter(f"{{{NS.RIM}}}ExtrinsicObject")),
                  key=lambda de: int(de.version or "1"))
    new = replace(current, entry_uuid="Document01", rim=replace(current.rim, id="Document01"),
                  confidentiality_codes=codes, availability_status=None)
    b = dmp_update()
    b.objects.append(replace(document_entry.write(new), lid=current.logical_id))
    b.link(b.ss_id, "Document01", "Original", extra_slots=(RimSlot("PreviousVersion", (current.version or "1",)),))
    return update(p, who, b)


def set_status(p: Platform, who: Who, unique_id: str, original: str, new: str) -> list[str]:
    """TD3.3c / TD3.3d: UpdateAvailabilityStatus of the document's newest version, found as a DMP client finds
    it: FindDocuments on its current status (archived and deleted entries are returned only when asked)."""
    q = encode_request(StoredQueryId.FindDocuments, {"$XDSDocumentEntryPatientId": DMP_PATIENT,
                                                     "$XDSDocumentEntryStatus": [original]})
    answer, _ = soap_call(p, p.registry, AUTHOR_CARD, q, Action.STORED_QUERY.value)
    [uuid] = [eo.get("id", "") for eo in answer.iter(f"{{{NS.RIM}}}ExtrinsicObject")
              if document_entry.read(rim.read_object(eo)).unique_id == unique_id]
    b = dmp_update()
    status_change(b, uuid, original, new)
    return update(p, who, b)


def find_status(p: Platform, who: Who, status: str) -> set[str]:
    q = encode_request(StoredQueryId.FindDocuments, {"$XDSDocumentEntryPatientId": DMP_PATIENT,
                                                     "$XDSDocumentEntryStatus": [status]})
    answer, _ = soap_call(p, p.registry, who, q, Action.STORED_QUERY.value)
    return {e.get("value", "") for e in answer.iter(f"{{{NS.RIM}}}ExternalIdentifier")
            if e.get("identificationScheme") == UUID.DE_UNIQUE_ID}


def get(p: Platform, who: Who, unique_id: str) -> set[str]:
    """GetDocuments by uniqueId: a query that cannot name a status (the uniqueIds returned)."""
    q = encode_request(StoredQueryId.GetDocuments, {"$XDSDocumentEntryUniqueId": [unique_id]})
    answer, _ = soap_call(p, p.registry, who, q, Action.STORED_QUERY.value)
    assert errors(answer) == []
    return {e.get("value", "") for e in answer.iter(f"{{{NS.RIM}}}ExternalIdentifier")
            if e.get("identificationScheme") == UUID.DE_UNIQUE_ID}


def test_masking_archiving_and_deleting_change_what_each_caller_sees(platform: Platform) -> None:
    answer, uid, _ = provide(platform, AUTHOR_CARD)
    assert errors(answer) == []
    assert uid in find(platform, DOCTOR_CARD)[0]
    # TD3.3a: any professional masks; then only the author, the MT and the patient see it
    assert versioned(platform, DOCTOR_CARD, uid, (N, MASQUE_PS)) == []
    assert uid not in find(platform, DOCTOR_CARD)[0]
    assert retrieve(platform, DOCTOR_CARD, [uid])[0] == set()
    assert uid in find(platform, AUTHOR_CARD)[0] and uid in find(platform, PATIENT)[0]
    # unmasking: not by whom cannot see it (rule 20), by the author
    assert "rule 20" in versioned(platform, DOCTOR_CARD, uid, (N,))[0]
    assert versioned(platform, AUTHOR_CARD, uid, (N,)) == []
    assert uid in find(platform, DOCTOR_CARD)[0] and retrieve(platform, DOCTOR_CARD, [uid]) == ({uid}, [])
    # TD3.3d archive: its own documents (or the MT); archived documents are found by asking for them
    assert "rule 6" in set_status(platform, DOCTOR_CARD, uid, APPROVED, ARCHIVED)[0]
    assert set_status(platform, AUTHOR_CARD, uid, APPROVED, ARCHIVED) == []
    assert uid not in find(platform, DOCTOR_CARD)[0]
    assert uid in find_status(platform, DOCTOR_CARD, ARCHIVED)
    # rule 11: an archived document stays consultable by id, to professionals and the patient (ITI-43 = ITI-18)
    for who in (DOCTOR_CARD, PATIENT):
        assert get(platform, who, uid) == {uid}
        assert retrieve(platform, who, [uid]) == ({uid}, [])
    # TD3.3c delete: only its author; deleted documents stay consultable by professionals, not by the patient
    assert "rule 5" in set_status(platform, DOCTOR_CARD, uid, ARCHIVED, DELETED)[0]
    assert set_status(platform, AUTHOR_CARD, uid, ARCHIVED, DELETED) == []
    assert uid in find_status(platform, DOCTOR_CARD, DELETED)
    assert uid not in find(platform, DOCTOR_CARD)[0] and uid not in find_status(platform, DOCTOR_CARD, ARCHIVED)
    assert get(platform, DOCTOR_CARD, uid) == {uid} and retrieve(platform, DOCTOR_CARD, [uid]) == ({uid}, [])
    assert uid not in find_status(platform, PATIENT, DELETED)
    assert get(platform, PATIENT, uid) == set()
    assert retrieve(platform, PATIENT, [uid])[0] == set()


def test_a_document_made_visible_by_a_professional_is_notified_to_the_patient(platform: Platform) -> None:
    """TD3.3b: a professional lifts INVISIBLE_PATIENT before the announcement: the patient sees the document and
    is told, as by the announcement timer (a `document_visible` notification), once."""
    answer, uid, _ = provide(platform, AUTHOR_CARD, confidentiality_codes=(N, INVISIBLE_PATIENT))
    assert errors(answer) == []
    assert uid not in find(platform, PATIENT)[0]
    assert versioned(platform, DOCTOR_CARD, uid, (N,)) == []
    assert uid in find(platform, PATIENT)[0] and retrieve(platform, PATIENT, [uid]) == ({uid}, [])
    notes = wait_for(platform, "notifications", lambda ns: any(n["document"] == uid for n in ns))
    assert [n["kind"] for n in notes if n["document"] == uid] == ["document_visible"]

