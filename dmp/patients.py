"""`/patients`: the DMP's patient-record transactions over HL7v3 (dmp-services.md §2a; messages:
xdscore.dmpws.gdp):

- TD0.2 existence test (PRPA_IN201307UV02 TEST_EXST): the DMP's status and identity, the caller's
  AUTORISATION (VALIDE / NON_EXISTE / EXPIRE / INTERDIT) and STATUT_MT; NF when the patient has no DMP.
- TD1.3a administrative data (CNSLT_DATA): identity, addresses, legal representatives, the oppositions.
- TD1.1 create (PRPA_IN201311UV02 CREA_RD): refused with DMPFound when a DMP exists; needs the patient's
  consent (CONSENTEMENT_OUVERTURE_DMP true); the creating professional is authorised.
- TD1.2 reactivate (PRPA_IN201314UV02 REAC, CONSENTEMENT_REACTIVATION_DMP): DMPFound when open.
- TD1.3b update (MODIF_DATA) and TD1.4 close (FERM, patient statusCode terminated): DMPClosed when
  closed; refused for a DMP attached to Mon espace santé (MATRIX note 10).
Every change is written to the record's history in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lxml import etree

from dmp.caller import Caller
from dmp.model import Change, HistoryEntry, StoredRecord, Who, person_from_feed
from dmp.ports import RegistryFacts
from dmp.rights import authorization, find, is_medecin_traitant
from dmp.store import RecordTx
from xdscore.access.record import ActorKind, RecordStatus
from xdscore.dmpws import gdp
from xdscore.dmpws.vocabulary import (
    CONSENTEMENT_OUVERTURE_DMP,
    CONSENTEMENT_REACTIVATION_DMP,
    FERMETURE_DEMANDE_PATIENT,
    OPPOSITION_ACCES_URGENCE,
    OPPOSITION_BRIS_DE_GLACE,
    AckDetail,
    DmpAction,
    ReasonCode,
)
from xdscore.model import PatientKey

TD = {
    ReasonCode.TEST_EXST: ("TD0.2", "Test d'existence"),
    ReasonCode.CNSLT_DATA: ("TD1.3a", "Consultation des données administratives"),
    ReasonCode.CREA_RD: ("TD1.1", "Création du DMP"),
    ReasonCode.REAC: ("TD1.2", "Réactivation du DMP"),
    ReasonCode.MODIF_DATA: ("TD1.3b", "Modification des données administratives"),
    ReasonCode.FERM: ("TD1.4", "Fermeture du DMP"),
}


@dataclass(frozen=True)
class Rules:
    """The platform's settings the transactions read (dmp.config.DmpSettings, the dmp profile)."""

    ins_authorities: frozenset[str]
    allow_creation: bool = True
    authorization_days: int = 0


@dataclass
class Outcome:
    """A service's answer: the body and its wsa:Action, the patient it was about, whether it succeeded,
    and the changes written (for the audit trail)."""

    body: etree._Element
    action: str
    patient: str = ""
    ok: bool = True
    changes: list[HistoryEntry] = field(default_factory=list)
    td: tuple[str, str] = ("", "")


def _denied(text: str) -> gdp.GdpError:
    return gdp.GdpError(AckDetail.DMP_ACCESS_DENIED, text)


def patient_of(request: gdp.GdpRequest, rules: Rules) -> str:
    if request.patient_root not in rules.ins_authorities:
        raise gdp.GdpError(AckDetail.DMP_INVALID_REQUEST, f"the patient id's root {request.patient_root} is not an "
                           f"INS assigning authority ({', '.join(sorted(rules.ins_authorities))})")
    return str(PatientKey(request.patient_id, request.patient_root))


def check_caller(caller: Caller | None, patient: str) -> Caller:
    """Every DMP service needs a verified VIHF; its resource-id, when given, names the same patient."""
    if caller is None:
        raise _denied("the DMP's services need the caller's VIHF (a SAML assertion in the WS-Security header)")
    if caller.patient and caller.patient != patient:
        raise _denied(f"the VIHF's resource-id is patient {caller.patient}, the request is about {patient}")
    return caller


class _Work:
    """One request against one record: what the handlers below share."""

    def __init__(self, request: gdp.GdpRequest, caller: Caller, patient: str, tx: RecordTx, now: str) -> None:
        self.request, self.caller, self.patient, self.tx, self.now = request, caller, patient, tx, now
        self.changes: list[HistoryEntry] = []
        self.who = Who(caller.national_id, " ".join(p for p in (caller.first_name, caller.last_name) if p),
                       TD[request.reason][0])

    def log(self, change: Change, **detail: object) -> None:
        entry = HistoryEntry(self.patient, self.now, change, self.who, dict(detail))
        self.tx.log(entry)
        self.changes.append(entry)

    def existing(self) -> StoredRecord:
        record = self.tx.record(self.patient)
        if record is None:
            raise gdp.GdpError(AckDetail.DMP_NOT_FOUND, f"patient {self.patient} has no DMP")
        return record

    def touch(self) -> None:
        """Remember when the caller last used this record (TD0.4 lastAccessDate)."""
        row = find(self.tx.actors(self.patient), ActorKind.PROFESSIONAL, self.caller.national_id)
        if row is not None:
            self.tx.save_actor(self.patient, replace(row, last_access_at=self.now))

    def view(self, record: StoredRecord, facts: RegistryFacts, observations: tuple[tuple[str, str, bool], ...]) -> gdp.PatientView:
        person = record.person
        if person == gdp.Person():
            fed = facts.demographics(record.patient)
            person = person_from_feed(fed) if fed else person
        return gdp.PatientView(self.request.patient_root, self.request.patient_id, record.is_open, person,
                               record.ins_c, observations)


def answer(request: gdp.GdpRequest, caller: Caller | None, tx: RecordTx, facts: RegistryFacts, now: str,
           rules: Rules) -> Outcome:
    """Any `/patients` request, answered as the DMP does (an AE acknowledgement for a refusal)."""
    td = TD[request.reason]
    patient = ""
    try:
        patient = patient_of(request, rules)
        work = _Work(request, check_caller(caller, patient), patient, tx, now)
        if request.header.interaction == gdp.QUERY:
            body = _query(work, facts, rules)
            return Outcome(body, DmpAction.GET_DEMOGRAPHICS_RESPONSE.value, patient, True, work.changes, td)
        view = _revise(work, facts, rules)
        body = gdp.registration_response(request.header, request.reason, view, None, now)
        return Outcome(body, _registration_action(request), patient, True, work.changes, td)
    except gdp.GdpError as error:
        return refusal(request.header, request.reason, error, now, patient, td)


def _registration_action(request: gdp.GdpRequest | gdp.Header) -> str:
    interaction = request.header.interaction if isinstance(request, gdp.GdpRequest) else request.interaction
    action = DmpAction.PATIENT_ADD_RESPONSE if interaction == gdp.ADD else DmpAction.PATIENT_REVISE_RESPONSE
    return str(action.value)


def refusal(header: gdp.Header, reason: ReasonCode | None, error: gdp.GdpError, now: str, patient: str = "",
            td: tuple[str, str] = ("", "")) -> Outcome:
    """The AE answer to a request of any of the three interactions (also one we could not read)."""
    if header.interaction in (gdp.ADD, gdp.REVISE):
        body = gdp.registration_response(header, reason, None, error, now)
        return Outcome(body, _registration_action(header), patient, False, [], td)
    return Outcome(gdp.query_error(header, reason, error, now), DmpAction.GET_DEMOGRAPHICS_RESPONSE.value, patient,
                   False, [], td)


def _query(work: _Work, facts: RegistryFacts, rules: Rules) -> etree._Element:
    record = work.tx.record(work.patient)
    if record is None:
        return gdp.query_response(work.request, gdp.ExistenceAnswer(None), work.now)
    work.touch()
    if work.request.reason is ReasonCode.CNSLT_DATA:
        observations = gdp.opposition_observations(record.opposes_bris_de_glace, record.opposes_centre_15)
        return gdp.query_response(work.request, gdp.ExistenceAnswer(work.view(record, facts, observations)), work.now)
    actors = work.tx.actors(work.patient)
    answer = gdp.ExistenceAnswer(
        work.view(record, facts, gdp.existence_observations(record.mes_attached, record.internet_account)),
        authorization(work.caller, record, actors, work.now, rules.authorization_days),
        is_medecin_traitant(work.caller, actors),
    )
    return gdp.query_response(work.request, answer, work.now)


def _consent(request: gdp.GdpRequest, code: str) -> None:
    if request.observations.get(code) is not True:
        raise gdp.GdpError(AckDetail.DMP_INVALID_REQUEST, f"the patient's consent ({code} true) is missing")


def _revise(work: _Work, facts: RegistryFacts, rules: Rules) -> gdp.PatientView:
    reason = work.request.reason
    if reason is ReasonCode.CREA_RD:
        record = _create(work, rules)
    else:
        record = work.existing()
        if reason is ReasonCode.REAC:
            record = _reactivate(work, record)
        else:
            if not record.is_open:
                raise gdp.GdpError(AckDetail.DMP_CLOSED, f"the DMP of patient {work.patient} is closed")
            if record.mes_attached:
                raise _denied("this DMP is attached to Mon espace santé: the patient manages it there")
            record = _close(work, record) if reason is ReasonCode.FERM else _update(work, record)
    work.touch()
    return work.view(record, facts, ())


def _create(work: _Work, rules: Rules) -> StoredRecord:
    if not rules.allow_creation:
        raise _denied("DMPs are not created through TD1.1 on this platform (Mon espace santé creates them)")
    existing = work.tx.record(work.patient)
    if existing is not None:
        state = "open" if existing.is_open else "closed: reactivate it with TD1.2"
        raise gdp.GdpError(AckDetail.DMP_FOUND, f"patient {work.patient} already has a DMP ({state})")
    _consent(work.request, CONSENTEMENT_OUVERTURE_DMP)
    obs = work.request.observations
    record = StoredRecord(
        work.patient, RecordStatus.OPEN, opposes_bris_de_glace=obs.get(OPPOSITION_BRIS_DE_GLACE, False),
        opposes_centre_15=obs.get(OPPOSITION_ACCES_URGENCE, False), person=work.request.person or gdp.Person(),
        created_at=work.now, updated_at=work.now)
    work.tx.save(record)
    work.log(Change.CREATED, opposes_bris_de_glace=record.opposes_bris_de_glace,
             opposes_centre_15=record.opposes_centre_15)
    # The patient consented in front of this professional: they are authorised on the new DMP.
    caller = work.caller
    if not caller.indirect:
        work.tx.save_actor(work.patient, caller.authorised(work.now))
        work.log(Change.AUTHORISED, professional=caller.national_id)
    return record


def _reactivate(work: _Work, record: StoredRecord) -> StoredRecord:
    if record.is_open:
        raise gdp.GdpError(AckDetail.DMP_FOUND, f"the DMP of patient {work.patient} is open: nothing to reactivate")
    _consent(work.request, CONSENTEMENT_REACTIVATION_DMP)
    record = replace(record, status=RecordStatus.OPEN, closed_at="", closure_reason="", updated_at=work.now)
    work.tx.save(record)
    work.log(Change.REACTIVATED)
    return record


def _close(work: _Work, record: StoredRecord) -> StoredRecord:
    if work.request.patient_status != "terminated":
        raise gdp.GdpError(AckDetail.DMP_INVALID_REQUEST, "closing a DMP (FERM) sends the patient's statusCode "
                           f"terminated, not {work.request.patient_status or 'none'}")
    reason = work.request.closure_reason or FERMETURE_DEMANDE_PATIENT
    record = replace(record, status=RecordStatus.CLOSED, closed_at=work.now, closure_reason=reason, updated_at=work.now)
    work.tx.save(record)
    work.log(Change.CLOSED, reason=reason)
    return record


def _update(work: _Work, record: StoredRecord) -> StoredRecord:
    obs = work.request.observations
    changed = replace(
        record,
        person=work.request.person or record.person,
        opposes_bris_de_glace=obs.get(OPPOSITION_BRIS_DE_GLACE, record.opposes_bris_de_glace),
        opposes_centre_15=obs.get(OPPOSITION_ACCES_URGENCE, record.opposes_centre_15),
        updated_at=work.now,
    )
    work.tx.save(changed)
    fields = [name for name in ("person", "opposes_bris_de_glace", "opposes_centre_15")
              if getattr(changed, name) != getattr(record, name)]
    work.log(Change.DATA_UPDATED, fields=fields)
    return changed
