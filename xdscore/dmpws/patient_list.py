"""The DMP's `/patientsSpecific` TD0.4 `patientList` (PatientsSpecific.wsdl v1.0.2, namespace
urn:si-dmp-patients): the DMPs the caller (a professional, or with INDIRECTE authentication its structure)
is authorised on, since `startDate`, by date of last authorisation or of last document (`dateType`), with
`psOwnerId` (optional) naming another professional of the caller's structure.
Layout as KIT-MSG's TD0.4 pair; unreadable bodies raise `MessageError` (a SOAP Sender fault).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from xdscore.dmpws.habilitations import MessageError
from xdscore.dmpws.vocabulary import DateType, DmpNS, ServiceStatus

_N = f"{{{DmpNS.PATIENTS}}}"
PATIENT_LIST = f"{_N}patientList"
# Dates are strings in the WSDL; the official request writes YYYYMMDDhhmmss, KIT-CS passes "01012018"
# (DDMMYYYY): both are read, and a date prefix YYYYMMDD[hh[mm[ss]]].
_DTM = re.compile(r"^\d{8}(\d{2}){0,3}$")


@dataclass(frozen=True)
class PatientListRequest:
    start_date: str  # YYYYMMDDhhmmss, padded
    date_type: DateType
    ps_owner_id: str = ""


@dataclass(frozen=True)
class PatientListEntry:
    ids: tuple[tuple[str, str], ...]  # (nationalId, nationalIdType): INS-C then INS, as KIT-MSG
    last_name: str = ""
    first_name: str = ""
    birth_name: str = ""  # patronymicalName
    civility: str = ""
    birth_date: str = ""
    medecin_traitant: bool = False  # MT
    message: bool = False
    last_access: str = ""
    last_update: str = ""
    last_add: str = ""


def _date(text: str) -> str:
    if len(text) == 8 and text.isdigit() and not (1800 <= int(text[:4]) <= 2999):
        text = text[4:] + text[2:4] + text[:2]  # DDMMYYYY (KIT-CS)
    if not _DTM.match(text):
        raise MessageError(f"patientList: startDate {text!r} is not a date YYYYMMDD[hhmmss]")
    return text.ljust(14, "0")


def read_patient_list(body: etree._Element) -> PatientListRequest:
    if body.tag != PATIENT_LIST:
        raise MessageError(f"the body element is {body.tag}, expected {PATIENT_LIST}")
    fields: dict[str, str] = {}
    for child in body:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if etree.QName(child).namespace != DmpNS.PATIENTS or name not in ("startDate", "dateType", "psOwnerId"):
            raise MessageError(f"patientList: unexpected element {child.tag}")
        if name in fields:
            raise MessageError(f"patientList: {name} is given twice")
        fields[name] = (child.text or "").strip()
    date_type = fields.get("dateType") or DateType.LASTAUTORIZATION.value
    if date_type not in {d.value for d in DateType}:
        raise MessageError(f"patientList: dateType {date_type!r} is not one of "
                           f"{', '.join(d.value for d in DateType)}")
    start = _date(fields["startDate"]) if fields.get("startDate") else "0" * 14
    return PatientListRequest(start, DateType(date_type), fields.get("psOwnerId", ""))


def _sub(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, f"{_N}{name}").text = text


def patient_list_response(entries: list[PatientListEntry], status: ServiceStatus, context: str = "") -> etree._Element:
    root = etree.Element(f"{_N}patientListResponse", nsmap={"ns1": DmpNS.PATIENTS})
    output = etree.SubElement(root, f"{_N}output")
    for entry in entries:
        row = etree.SubElement(output, f"{_N}patientlistData")
        for national_id, id_type in entry.ids:
            ident = etree.SubElement(row, f"{_N}patientIdentifier")
            _sub(ident, "nationalId", national_id)
            _sub(ident, "nationalIdType", id_type)
        for name, value in (("lastName", entry.last_name), ("patronymicalName", entry.birth_name),
                            ("firstName", entry.first_name), ("civility", entry.civility),
                            ("dateOfBirth", entry.birth_date)):
            if value:
                _sub(row, name, value)
        _sub(row, "MT", "true" if entry.medecin_traitant else "false")
        _sub(row, "message", "true" if entry.message else "false")
        for name, value in (("lastAccessDate", entry.last_access), ("lastUpdateDate", entry.last_update),
                            ("lastAddDate", entry.last_add)):
            if value:
                _sub(row, name, value)
    _sub(output, "status", status.value)
    if context:
        _sub(output, "context", context)
    return root
