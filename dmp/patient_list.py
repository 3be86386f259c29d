"""`/patientsSpecific` TD0.4 `patientList` (dmp-services.md §2a; messages: xdscore.dmpws.patient_list): the
DMPs the caller is authorised on. A professional (DIRECTE) gets their own authorisations, or with
`psOwnerId` those of another professional who acted for the same structure (a secretary's CPE for a
doctor, MATRIX (3)); a structure (INDIRECTE) gets the DMPs it, or one of its professionals, is authorised
on. `dateType` LASTAUTORIZATION keeps authorisations given since `startDate`, LASTDOC the DMPs that got a
document since then (the registry's dates, through `dmp.ports.RegistryFacts`).
"""

from __future__ import annotations

from dmp.caller import Caller
from dmp.model import Actor, StoredRecord, person_from_feed
from dmp.patients import Outcome
from dmp.ports import DocumentDates, RegistryFacts
from dmp.store import RecordTx
from xdscore.access.record import ActorKind
from xdscore.dmpws import patient_list as msg
from xdscore.dmpws.gdp import Person
from xdscore.dmpws.vocabulary import INS_C_ROOT, DateType, DmpAction, ServiceStatus
from xdscore.model import PatientKey

TD04 = ("TD0.4", "Liste des DMP autorisés")


def _response(entries: list[msg.PatientListEntry], status: ServiceStatus, context: str = "", ok: bool = True) -> Outcome:
    return Outcome(msg.patient_list_response(entries, status, context), DmpAction.PATIENT_LIST_RESPONSE.value, "",
                   ok, [], TD04)


def patient_list(request: msg.PatientListRequest, caller: Caller | None, tx: RecordTx, facts: RegistryFacts) -> Outcome:
    if caller is None:
        return _response([], ServiceStatus.ACCESS_DENIED, "the DMP's services need the caller's VIHF (a SAML "
                         "assertion in the WS-Security header)", ok=False)
    owner = request.ps_owner_id or ("" if caller.indirect else caller.national_id)
    if owner:
        rows = tx.records_of(ActorKind.PROFESSIONAL, [owner])
        if owner != caller.national_id:  # someone else's list: only of the caller's structure
            rows = [(r, a) for r, a in rows if a.structure_id and a.structure_id == caller.structure_id]
    else:
        rows = tx.records_of(ActorKind.STRUCTURE, [caller.structure_id], structure_id=caller.structure_id)
    latest: dict[str, tuple[StoredRecord, Actor]] = {}
    for record, actor in rows:
        kept = latest.get(record.patient)
        if kept is None or actor.authorised_at > kept[1].authorised_at:
            latest[record.patient] = (record, actor)
    dates = facts.document_dates(latest)
    entries = []
    for patient, (record, actor) in sorted(latest.items()):
        document_dates = dates.get(patient)
        since = actor.authorised_at if request.date_type is DateType.LASTAUTORIZATION else (
            document_dates.last_add if document_dates else "")
        if since.ljust(14, "0") < request.start_date:
            continue
        entries.append(_entry(record, actor, owner, rows, facts, document_dates))
    return _response(entries, ServiceStatus.OK)


def _entry(record: StoredRecord, actor: Actor, owner: str, rows: list[tuple[StoredRecord, Actor]],
           facts: RegistryFacts, dates: DocumentDates | None) -> msg.PatientListEntry:
    key = PatientKey.parse(record.patient)
    assert key is not None
    ids = ((record.ins_c, INS_C_ROOT),) if record.ins_c else ()
    person = record.person
    if person == Person():
        fed = facts.demographics(record.patient)
        person = person_from_feed(fed) if fed else person
    # The structure's list flags the DMPs whose médecin traitant is one of its professionals.
    doctors = [a for r, a in rows if r.patient == record.patient and (not owner or a.actor_id == owner)]
    return msg.PatientListEntry(
        ids=(*ids, (key.id, key.authority)),
        last_name=person.name.family,
        first_name=" ".join(person.name.given),
        birth_name=person.name.birth_family,
        civility=person.name.prefix,
        birth_date=person.birth_time,
        medecin_traitant=any(a.medecin_traitant for a in doctors),
        last_access=actor.last_access_at,
        last_update=dates.last_update if dates else "",
        last_add=dates.last_add if dates else "",
    )
