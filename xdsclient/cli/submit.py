"""`xds submit`: each CDA of a file or folder by ITI-41 Provide and Register Document Set-b (ITI TF-2b 3.41;
MTOM/XOP, ITI TF-2x V.3.6), its metadata derived from the CDA header (`xdscore.cda`).

With a key and certificate, each submission carries the XAdES signature document of the DMP's TD2.1
(`xdscore.dsg`: its own DocumentEntry, a `signs` association to the SubmissionSet) and a VIHF signed with
the same key in its WS-Security header (authentication mode INDIRECTE: a structure's seal). The CI-SIS
structuration minimale problems are shown as warnings, or refuse the file with --strict.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from xdsclient.cli.feed import Patient, feed
from xdsclient.soapclient import SoapClient, SoapResponse
from xdscore import soap
from xdscore.cda.metadata import Derivation, Options, derive, parse, submission_objects
from xdscore.cda.structure import check
from xdscore.dsg import SignedDocument, sign_submission, signature_entry
from xdscore.ebrim import submit_objects
from xdscore.ebrim.response import read_errors
from xdscore.model import DocumentEntry
from xdscore.vocabulary import NS, Action, ResponseStatus
from xuatool import (
    AssertionSpec,
    Credential,
    add_security,
    build_assertion,
    security_header,
    sign_assertion,
    timestamp_for,
)

XDSB = f"{{{NS.XDSB}}}"
DEFAULT_SOURCE_ID = "1.2.250.1.999.1.1.9999"  # a test OID under the CI-SIS "test" arc (1.2.250.1.999)
SIGNATURE_ID = "Signature01"


def new_oid() -> str:
    """A globally unique OID from a random UUID (ITU-T X.667: the 2.25 arc)."""
    return f"2.25.{uuid.uuid4().int}"


@dataclass(frozen=True)
class Signer:
    key_pem: bytes
    cert_pem: bytes
    credential: Credential
    algorithm: str = "rsa-sha256"
    mode: str = "INDIRECTE"  # the VIHF's Authentification_mode: a structure's seal, or DIRECTE (a card)
    name_id: str = ""  # the VIHF's NameID (IdNat_PS); default: a submitted document's first author

    @classmethod
    def load(cls, key: Path, cert: Path, algorithm: str | None = None, mode: str = "INDIRECTE",
             name_id: str = "") -> Signer:
        credential = Credential.load(cert, key)
        default = "ecdsa-sha256" if "EC" in type(credential.private_key).__name__ else "rsa-sha256"
        return cls(key.read_bytes(), cert.read_bytes(), credential, algorithm or default, mode, name_id)


@dataclass(frozen=True)
class Settings:
    repository: str
    feed: tuple[str, int] | None = None  # feed each document's patient first (ITI-8)
    source_id: str = DEFAULT_SOURCE_ID
    signer: Signer | None = None
    signature_document: bool = True
    strict: bool = False


@dataclass
class Outcome:
    file: Path
    result: str  # sent | refused | error
    unique_id: str = ""
    detail: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result == "sent"


def cda_files(path: Path) -> list[Path]:
    """The file itself, or every *.xml below a folder, in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.xml") if p.is_file())
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return [path]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def request_body(entries: list[tuple[DocumentEntry, bytes]], d: Derivation, signs: tuple[tuple[str, str], ...]) -> etree._Element:
    """xdsb:ProvideAndRegisterDocumentSetRequest: the metadata and each document inline (MTOM moves them
    to binary parts when sending)."""
    body = etree.Element(f"{XDSB}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
    body.append(submit_objects.write(submission_objects(d.submission_set, [e for e, _ in entries], signs)))
    for entry, data in entries:
        etree.SubElement(body, f"{XDSB}Document", id=entry.entry_uuid).text = base64.b64encode(data).decode("ascii")
    return body


def _xcn_parts(xcn: str | None) -> list[str]:
    return (xcn or "").split("^")


def signed_vihf(signer: Signer, source_id: str, **who: str) -> etree._Element:
    """A wsse:Security header with a VIHF signed with the signer's key (INDIRECTE: a structure's seal; DIRECTE:
    a professional's card); `who` sets AssertionSpec fields (name_id, subject_id, structure_id, activity_sector,
    resource_id), the signer's name_id wins, the others keep xuatool's test identity."""
    spec = AssertionSpec(
        authentication_mode=signer.mode,
        lps_nom="pyxds xds",
        lps_version="0.1",
        lps_id=source_id,
        lps_homologation="pyxds-xds",  # no DMP homologation number: a test client
    )
    for name, value in {**who, **({"name_id": signer.name_id} if signer.name_id else {})}.items():
        setattr(spec, name, value)
    assertion = sign_assertion(build_assertion(spec, signer.credential), signer.credential)
    return security_header(assertion, timestamp_for())


def vihf(d: Derivation, signer: Signer, source_id: str) -> etree._Element:
    """A VIHF signed with the signer's key for the document's first author (NameID, structure) and patient."""
    author = d.document_entry.authors[0] if d.document_entry.authors else None
    person = _xcn_parts(author.person if author else None)
    institution = (author.institutions[0] if author and author.institutions else "").split("^")
    facility = d.document_entry.healthcare_facility_type_code
    who = {
        "name_id": person[0],
        "subject_id": ", ".join(p for p in person[1:3] if p),
        "structure_id": institution[9] if len(institution) > 9 else "",
        "activity_sector": f"{facility.code}^{facility.scheme}" if facility else "",
        "resource_id": d.document_entry.patient_id or "",
    }
    # What the header does not say (an institution named but not identified...) keeps the test identity's value:
    # the VIHF profile wants each of these attributes.
    return signed_vihf(signer, source_id, **{k: v for k, v in who.items() if v})


def patient_of(d: Derivation) -> Patient:
    info = dict(v.split("|", 1) for v in d.document_entry.source_patient_info)
    name = info.get("PID-5", "").split("~")[0]
    return Patient(d.document_entry.patient_id or "", "^".join(name.split("^")[:2]), info.get("PID-7", ""),
                   info.get("PID-8", ""))


def reply(response: SoapResponse) -> tuple[str, str, list[str]]:
    """(result, detail, warning codes) of an ITI-41 response."""
    fault = response.fault
    if fault is not None:
        return "refused", f"SOAP fault: {fault.reason}", []
    body = response.body
    if body is None:
        return "error", f"HTTP {response.status_code}: {response.parse_error or 'no SOAP response'}", []
    errors = read_errors(body)
    failures = [e for e in errors if e[2].endswith(":Error")]
    warnings = [e[0] for e in errors if not e[2].endswith(":Error")]
    if body.get("status") == ResponseStatus.SUCCESS.value and not failures:
        return "sent", "", warnings
    detail = ", ".join(dict.fromkeys(e[0] for e in failures)) or body.get("status", "").rsplit(":", 1)[-1]
    if failures and failures[0][1]:
        detail += f" ({failures[0][1]})"
    return "refused", detail, warnings


def submit_file(path: Path, settings: Settings, client: SoapClient, fed: set[str]) -> Outcome:
    data = path.read_bytes()
    document = parse(data)
    problems = [str(p) for p in check(document)]
    now = _now()
    dtm = now.strftime("%Y%m%d%H%M%S")
    options = Options(submission_set_unique_id=new_oid(), source_id=settings.source_id, submission_time=dtm)
    d = derive(data, options, document)
    outcome = Outcome(path, "error", d.document_entry.unique_id or "", warnings=problems + [str(n) for n in d.notes])
    if settings.strict and outcome.warnings:
        outcome.result, outcome.detail = "refused", f"not sent (--strict): {outcome.warnings[0]}"
        return outcome
    entries: list[tuple[DocumentEntry, bytes]] = [(d.document_entry, data)]
    signs: tuple[tuple[str, str], ...] = ()
    signer = settings.signer
    if signer is not None and settings.signature_document:
        signature = sign_submission(
            options.submission_set_unique_id, [SignedDocument(d.document_entry.unique_id or "", data)],
            signer.key_pem, signer.cert_pem, f"sig-{uuid.uuid4()}", now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            signer.algorithm,
        )
        entries.append((signature_entry(d.document_entry, signature, new_oid(), SIGNATURE_ID, dtm), signature))
        signs = ((SIGNATURE_ID, d.submission_set.entry_uuid),)
    if settings.feed is not None and d.document_entry.patient_id not in fed:
        feed(patient_of(d), *settings.feed)
        fed.add(d.document_entry.patient_id or "")
    envelope = soap.request_envelope(request_body(entries, d, signs), Action.PROVIDE_AND_REGISTER.value, settings.repository)
    if signer is not None:
        add_security(envelope, vihf(d, signer, settings.source_id))
    response = client.send_envelope(envelope, Action.PROVIDE_AND_REGISTER.value, mtom=True)
    outcome.result, outcome.detail, warnings = reply(response)
    outcome.warnings += warnings
    return outcome


def submit(paths: list[Path], settings: Settings, timeout: float = 120.0) -> Iterator[Outcome]:
    """Submit each file in turn; the caller shows progress between them."""
    fed: set[str] = set()
    with SoapClient(settings.repository, timeout=timeout) as client:
        for path in paths:
            yield submit_file(path, settings, client, fed)
