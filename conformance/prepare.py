"""Turns a test-plan step into the request the toolkit would send (NIST BasicTransaction.prepareMetadata).

For Register / Provide and Register, in the toolkit's order:
1. load the MetadataFile; replace the run parameters (`$patientid$`: the toolkit's extra linkage, applied
   first, so a `UseReport` of the same symbol finds nothing left to replace), then apply `UseReport`
   substitutions (values other steps reported);
2. translate ebRS 2.1 → 3.0 (`conformance.translate`);
3. unless `NoPatientId`: put the test's patient id in every patientId ExternalIdentifier (DE, SS, Folder);
4. apply `UseId` substitutions (ids other steps assigned);
5. unless `NoAssignUids`: give every DE / SS / Folder uniqueId a fresh OID (`NoAssignUids id=X` spares X);
6. give the SubmissionSet sourceId the kit's source OID;
7. with `AssignUuids`: replace every symbolic id by a fresh `urn:uuid:` and every reference to it;
8. substitute the toolkit's built-in symbols (`$now$`, `$lastyear$`, `$DATE$`) and the kit's own
   parameters (`$repuid$`).
Stored queries and retrieves only get the substitutions (steps 1, 4, 8) and `CleanParams`.

What was assigned is kept (AssignedPatientId, AssignedUids, AssignedUuids, AssignedSourceId) so later steps
can `UseId` it, and reported as `<id>_uid` / `<id>_uuid` for `UseReport`.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lxml import etree

from conformance.metadata import children, local
from conformance.testplan import Transaction, UseId, UseReport, UseXPath
from conformance.translate import submit_objects_request
from conformance.transport import Document
from xdscore.vocabulary import NS, UUID
from xdscore.xmlsafe import parse_bytes

_REFERENCE_ATTRIBUTES = ("classifiedObject", "sourceObject", "targetObject", "registryObject")
_CONTENT_TYPES = {".txt": "text/plain", ".xml": "text/xml", ".pdf": "application/pdf", ".html": "text/html"}


class PrepareError(Exception):
    """The step cannot be built (missing linkage, unreadable file): the step fails with this reason."""


class Resolver(Protocol):
    def run_parameters(self) -> dict[str, str]: ...
    def use_id(self, use: UseId) -> str: ...
    def use_report(self, use: UseReport) -> str: ...
    def use_xpath(self, use: UseXPath) -> str: ...


@dataclass
class Settings:
    """The kit's own parameters (the toolkit's "site" and test-management configuration)."""

    patient_aa: str = "1.3.6.1.4.1.21367.13.20.1000"
    source_id: str = "1.3.6.1.4.1.21367.4"
    repository_uid: str | None = None


class Allocator:
    """Fresh patient ids, uniqueIds (OIDs) and entryUUIDs, unique across runs of the kit."""

    def __init__(self) -> None:
        self._stamp = str(int(time.time() * 1000))
        self._uids = itertools.count(1)
        self._pids = itertools.count(1)

    def unique_id(self) -> str:
        return f"1.2.42.{self._stamp}.{next(self._uids)}"

    def patient_id(self, assigning_authority: str) -> str:
        return f"P{self._stamp}.{next(self._pids)}^^^&{assigning_authority}&ISO"

    @staticmethod
    def entry_uuid() -> str:
        return f"urn:uuid:{uuid.uuid4()}"


@dataclass
class Prepared:
    body: etree._Element
    assigned: dict[str, dict[str, str]] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)


def load(path: Path | None) -> etree._Element:
    if path is None:
        raise PrepareError("the transaction has no MetadataFile")
    try:
        return parse_bytes(path.read_bytes(), what=str(path))
    except OSError as exc:
        raise PrepareError(f"cannot read {path}: {exc.strerror}") from None


def replace_symbol(root: etree._Element, symbol: str, value: str) -> None:
    """Replace `symbol` in every text node and attribute value, outside xdsb:Document contents."""
    if not symbol:
        return
    stack = [root]
    while stack:
        el = stack.pop()
        if not isinstance(el.tag, str):
            continue
        if el.tag == f"{{{NS.XDSB}}}Document":
            if el.tail and symbol in el.tail:
                el.tail = el.tail.replace(symbol, value)
            continue
        if el.text and symbol in el.text:
            el.text = el.text.replace(symbol, value)
        if el.tail and symbol in el.tail:
            el.tail = el.tail.replace(symbol, value)
        for key, val in el.attrib.items():
            if symbol in val:
                el.set(key, val.replace(symbol, value))
        stack.extend(el)


def _objects(sor: etree._Element, kind: str) -> list[etree._Element]:
    rol = sor.find(f"{{{NS.RIM}}}RegistryObjectList")
    return [o for o in (rol if rol is not None else []) if isinstance(o.tag, str) and local(o) == kind]


def _assign_identifiers(
    sor: etree._Element, schemes: dict[str, tuple[str, ...]], make: callable, skip: str | None = None  # type: ignore[valid-type]
) -> dict[str, str]:
    assigned: dict[str, str] = {}
    for kind, kind_schemes in schemes.items():
        for obj in _objects(sor, kind):
            oid = obj.get("id", "")
            if skip is not None and oid == skip:
                continue
            for ei in children(obj, "ExternalIdentifier"):
                if ei.get("identificationScheme") in kind_schemes:
                    value = make()
                    ei.set("value", value)
                    assigned[oid] = value
    return assigned


def _read_identifiers(sor: etree._Element, schemes: dict[str, tuple[str, ...]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for kind, kind_schemes in schemes.items():
        for obj in _objects(sor, kind):
            for ei in children(obj, "ExternalIdentifier"):
                if ei.get("identificationScheme") in kind_schemes and ei.get("value"):
                    found[obj.get("id", "")] = ei.get("value", "")
    return found


def assign_uuids(sor: etree._Element) -> dict[str, str]:
    """Symbolic ids → fresh urn:uuid: values, references updated (NIST IdParser.compileSymbolicNamesIntoUuids)."""
    rol = sor.find(f"{{{NS.RIM}}}RegistryObjectList")
    objects = [o for o in (rol if rol is not None else []) if isinstance(o.tag, str)]
    mapping: dict[str, str] = {}
    for obj in objects:
        for el in obj.iter():
            if not isinstance(el.tag, str):
                continue
            oid = el.get("id")
            if oid is not None and not oid.startswith("urn:uuid:"):
                new = mapping.setdefault(oid, Allocator.entry_uuid())
                el.set("id", new)
    for obj in objects:
        for el in obj.iter():
            if not isinstance(el.tag, str):
                continue
            for attr in _REFERENCE_ATTRIBUTES:
                ref = el.get(attr)
                if ref is None or ref.startswith("urn:uuid:"):
                    continue
                if ref not in mapping:
                    raise PrepareError(f"symbolic name {ref} ({attr}) is not defined in the metadata")
                el.set(attr, mapping[ref])
    return mapping


def standard_linkage(settings: Settings) -> dict[str, str]:
    # `$now$` is written to the second; it is rounded up so that anything registered before the step is
    # strictly earlier (a query's "...To" bound is exclusive, ITI TF-2a 3.18.4.1.2.3.6), whatever the
    # millisecond at which the step runs.
    now = (_dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=1)).replace(microsecond=0)
    links = {
        "$now$": now.strftime("%Y%m%d%H%M%S"),
        "$lastyear$": now.replace(year=now.year - 1).strftime("%Y%m%d%H%M%S"),
        "$DATE$": now.strftime("%Y%m%d"),  # "the current date" (toolkit doc/testplan.html, Assertions)
    }
    if settings.repository_uid:
        links["$repuid$"] = settings.repository_uid
    return links


def _apply_reports(root: etree._Element, tx: Transaction, resolver: Resolver) -> None:
    for symbol, value in resolver.run_parameters().items():
        replace_symbol(root, symbol, value)
    for use in tx.use_reports:
        replace_symbol(root, use.use_as, resolver.use_report(use))


def _apply_use_ids(root: etree._Element, tx: Transaction, resolver: Resolver) -> None:
    for use in tx.use_ids:
        replace_symbol(root, use.symbol, resolver.use_id(use))


def _apply_standard(root: etree._Element, settings: Settings) -> None:
    for symbol, value in standard_linkage(settings).items():
        replace_symbol(root, symbol, value)


def prepare_submission(
    tx: Transaction, resolver: Resolver, settings: Settings, allocator: Allocator, patient_id: str | None
) -> Prepared:
    """ITI-42 / ITI-41 request body (lcm:SubmitObjectsRequest, or the xdsb wrapper with its Documents)."""
    template = load(tx.metadata_file)
    _apply_reports(template, tx, resolver)
    if not tx.parse_metadata:
        raise PrepareError("ParseMetadata False is not supported for submissions")
    sor = submit_objects_request(template)
    out = Prepared(body=sor)
    patient_schemes = {
        "ExtrinsicObject": (UUID.DE_PATIENT_ID,), "RegistryPackage": (UUID.SS_PATIENT_ID, UUID.FOLDER_PATIENT_ID),
    }
    if tx.assign_patient_id:
        if patient_id is None:
            raise PrepareError("no patient id available for this step")
        out.assigned["AssignedPatientId"] = _assign_identifiers(sor, patient_schemes, lambda: patient_id)
    _apply_use_ids(sor, tx, resolver)
    if not tx.assign_patient_id:
        # NoPatientId: the ids the template carries are recorded as sent, so that a later UseId
        # section="AssignedPatientId" (12364 over 12361) finds them.
        out.assigned["AssignedPatientId"] = _read_identifiers(sor, patient_schemes)
    if tx.assign_uids:
        uids = _assign_identifiers(
            sor,
            {"ExtrinsicObject": (UUID.DE_UNIQUE_ID,), "RegistryPackage": (UUID.SS_UNIQUE_ID, UUID.FOLDER_UNIQUE_ID)},
            allocator.unique_id,
            skip=tx.no_assign_uid_to,
        )
        out.assigned["AssignedUids"] = uids
        out.reports.update({f"{k}_uid": v for k, v in uids.items()})
    out.assigned["AssignedSourceId"] = _assign_identifiers(
        sor, {"RegistryPackage": (UUID.SS_SOURCE_ID,)}, lambda: settings.source_id
    )
    uuids: dict[str, str] = {}
    if tx.assign_uuids:
        uuids = assign_uuids(sor)
        out.assigned["AssignedUuids"] = uuids
        out.reports.update({f"{k}_uuid": v for k, v in uuids.items()})
    _apply_standard(sor, settings)
    if tx.kind == "ProvideAndRegisterTransaction":
        pnr = etree.Element(f"{{{NS.XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
        pnr.append(sor)
        for doc_id, path in tx.documents:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise PrepareError(f"cannot read document {path}: {exc.strerror}") from None
            wire_id = uuids.get(doc_id, doc_id)
            etree.SubElement(pnr, f"{{{NS.XDSB}}}Document").set("id", wire_id)
            ctype = _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
            out.documents.append(Document(wire_id, data, ctype))
        out.body = pnr
    return out


def clean_params(request: etree._Element) -> None:
    """`CleanParams`: drop query parameters still holding an unresolved `$symbol$` (NIST cleanSqParams)."""
    for query in request.iter(f"{{{NS.RIM}}}AdhocQuery"):
        for key, value in list(query.attrib.items()):
            if "$" in value:
                del query.attrib[key]
        for slot in children(query, "Slot"):
            for vl in children(slot, "ValueList"):
                for v in children(vl, "Value"):
                    if (v.text or "").count("$") >= 2:
                        vl.remove(v)
                if not children(vl, "Value"):
                    query.remove(slot)


def prepare_request(tx: Transaction, resolver: Resolver, settings: Settings) -> Prepared:
    """ITI-18 AdhocQueryRequest or ITI-43 RetrieveDocumentSetRequest: substitutions only."""
    request = load(tx.metadata_file)
    _apply_reports(request, tx, resolver)
    _apply_use_ids(request, tx, resolver)
    for use in tx.use_xpaths:
        replace_symbol(request, use.symbol, resolver.use_xpath(use))
    _apply_standard(request, settings)
    if tx.clean_params:
        if tx.kind == "RetrieveTransaction":
            for dr in list(request.iter(f"{{{NS.XDSB}}}DocumentRequest")):
                if "$" in "".join(dr.itertext()):
                    dr.getparent().remove(dr)
        else:
            clean_params(request)
    return Prepared(body=request)
