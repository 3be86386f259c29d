"""`/habilitations`: TD0.3 `setAuthorization` and TD1.6 `listAuthorizationByPatient` (dmp-services.md §2a;
messages: xdscore.dmpws.habilitations). The patient is the VIHF's resource-id (no patient in the body).

TD0.3: a professional authenticated with their card (DIRECTE), in normal mode, declares themselves
authorised on the DMP (AJOUT) or withdraws (SUPPRESSION); with role MEDECIN_TRAITANT they become, or stop
being, a médecin traitant DMP of the record (becoming one authorises; withdrawing the authorisation ends
the role). Asking for what is already so answers DMPOk with the context "… aucune action
effectuée", as KIT-MSG's TD0.3 answer. A professional the patient blocked cannot authorise themselves.
TD1.6: the professionals and structures authorised on the DMP (ACTIVE), blocked (INTERDITE) or both
(TOUTE), for an authorised professional or the médecin traitant, in normal mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dmp.caller import Caller
from dmp.model import Actor, Change, HistoryEntry, StoredRecord, Who
from dmp.patients import Outcome
from dmp.rights import authorization, find, is_medecin_traitant
from dmp.store import RecordTx
from xdscore.access.record import ActorKind
from xdscore.dmpws import habilitations as msg
from xdscore.dmpws.vocabulary import (
    IDNAT_PS_ROOT,
    IDNAT_STRUCT_ROOT,
    Authorization,
    AuthorizationMode,
    DmpAction,
    HabilitationAction,
    HabilitationRole,
    ServiceStatus,
)

TD03 = ("TD0.3", "Mise à jour de l'autorisation")
TD16 = ("TD1.6", "Liste des PS autorisés ou bloqués")


class Refused(Exception):
    def __init__(self, status: ServiceStatus, context: str) -> None:
        super().__init__(context)
        self.status, self.context = status, context


def _record(caller: Caller | None, tx: RecordTx, what: str) -> tuple[Caller, StoredRecord]:
    if caller is None:
        raise Refused(ServiceStatus.ACCESS_DENIED, "the DMP's services need the caller's VIHF (a SAML assertion in "
                      "the WS-Security header)")
    if not caller.patient:
        raise Refused(ServiceStatus.INVALID_REQUEST, f"{what}: the patient is the VIHF's resource-id "
                      "(urn:oasis:names:tc:xacml:2.0:resource:resource-id), and the VIHF has none")
    if not caller.normal_mode:
        raise Refused(ServiceStatus.ACCESS_DENIED, f"{what} is refused in access mode {caller.access_mode} "
                      "(normal mode only)")
    if caller.indirect:
        raise Refused(ServiceStatus.ACCESS_DENIED, f"{what} needs a professional authenticated with their card "
                      f"(DIRECTE); the VIHF's mode is {caller.authentication_mode}")
    record = tx.record(caller.patient)
    if record is None:
        raise Refused(ServiceStatus.NOT_FOUND, f"patient {caller.patient} has no DMP")
    return caller, record


def set_authorization(request: msg.SetAuthorization, caller: Caller | None, tx: RecordTx, now: str,
                      lifetime_days: int = 0) -> Outcome:
    changes: list[HistoryEntry] = []
    patient = caller.patient if caller else ""
    try:
        caller, record = _record(caller, tx, "setAuthorization")
        if not record.is_open:
            raise Refused(ServiceStatus.CLOSED, f"the DMP of patient {patient} is closed")
        who = Who(caller.national_id, " ".join(p for p in (caller.first_name, caller.last_name) if p), TD03[0])

        def log(change: Change, **detail: object) -> None:
            entry = HistoryEntry(patient, now, change, who, dict(detail))
            tx.log(entry)
            changes.append(entry)

        context = _apply(request, caller, record, tx, now, lifetime_days, log)
        status = ServiceStatus.OK
    except Refused as refused:
        status, context = refused.status, refused.context
    return Outcome(msg.set_authorization_response(status, context), DmpAction.SET_AUTHORIZATION_RESPONSE.value,
                   patient, status is ServiceStatus.OK, changes, TD03)


def _apply(request: msg.SetAuthorization, caller: Caller, record: StoredRecord, tx: RecordTx, now: str,
           lifetime_days: int, log: Callable[..., None]) -> str:
    patient, me = record.patient, caller.national_id
    row = find(tx.actors(patient), ActorKind.PROFESSIONAL, me)
    if row is not None and row.blocked:
        raise Refused(ServiceStatus.ACCESS_DENIED, "the patient blocked this professional: no authorisation")
    active = row is not None and authorization(caller, record, [row], now, lifetime_days) is Authorization.VALIDE
    mt = row is not None and row.medecin_traitant
    if request.action is HabilitationAction.AJOUT:
        if request.role is None and active:
            return "Autorisation déjà présente aucune action effectuée"
        if request.role is HabilitationRole.MEDECIN_TRAITANT and active and mt:
            return "Médecin traitant déjà déclaré aucune action effectuée"
        if row is None or not active:  # a new authorisation, or one renewed after it expired
            row = replace(caller.authorised(now), medecin_traitant=mt)
            tx.save_actor(patient, row)
            log(Change.AUTHORISED, professional=me)
        if request.role is HabilitationRole.MEDECIN_TRAITANT and not mt:
            tx.save_actor(patient, replace(row, medecin_traitant=True, last_action_at=now))
            log(Change.MEDECIN_TRAITANT_NAMED, professional=me)
        return ""
    if request.role is HabilitationRole.MEDECIN_TRAITANT:
        if row is None or not mt:
            return "Ce professionnel n'est pas médecin traitant aucune action effectuée"
        tx.save_actor(patient, replace(row, medecin_traitant=False, last_action_at=now))
        log(Change.MEDECIN_TRAITANT_REMOVED, professional=me)
        return ""
    if row is None or not row.active:
        return "Aucune autorisation présente aucune action effectuée"
    tx.remove_actor(patient, ActorKind.PROFESSIONAL, me)
    log(Change.AUTHORISATION_REMOVED, professional=me)
    if mt:  # the médecin traitant acts under an authorisation: withdrawing it ends the role too
        log(Change.MEDECIN_TRAITANT_REMOVED, professional=me)
    return ""


def _entry(actor: Actor) -> msg.AuthorizationEntry:
    professional = actor.kind is ActorKind.PROFESSIONAL
    return msg.AuthorizationEntry(
        national_id=actor.actor_id,
        national_id_type=IDNAT_PS_ROOT if professional else IDNAT_STRUCT_ROOT,
        first_name=actor.first_name,
        last_name=actor.last_name,
        speciality_codes=tuple(code for code, _ in actor.specialities),
        speciality_labels=tuple(label for _, label in actor.specialities if label),
        start=actor.authorised_at,
        last_action=actor.last_action_at,
        mode=actor.mode,
        medecin_traitant=professional and actor.medecin_traitant,
    )


def list_authorizations(mode: AuthorizationMode, caller: Caller | None, tx: RecordTx, now: str,
                        lifetime_days: int) -> Outcome:
    patient = caller.patient if caller else ""
    try:
        caller, record = _record(caller, tx, "listAuthorizationByPatient")
        actors = tx.actors(patient)
        allowed = is_medecin_traitant(caller, actors) or authorization(
            caller, record, actors, now, lifetime_days) is Authorization.VALIDE
        if not allowed:
            raise Refused(ServiceStatus.ACCESS_DENIED, "only a professional authorised on this DMP, or its médecin "
                          "traitant, lists who is authorised or blocked")
        entries = [_entry(a) for a in actors if (a.active and mode is not AuthorizationMode.INTERDITE)
                   or (a.blocked and mode is not AuthorizationMode.ACTIVE)]
        body = msg.list_authorizations_response(entries, ServiceStatus.OK)
        ok = True
    except Refused as refused:
        body = msg.list_authorizations_response([], refused.status, refused.context)
        ok = False
    return Outcome(body, DmpAction.LIST_AUTHORIZATIONS_RESPONSE.value, patient, ok, [], TD16)
