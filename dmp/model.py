"""The DMP record as this actor stores it: the record itself, the professionals and structures it knows
(authorised or blocked), and its history. `StoredRecord.view` gives the access decision's read-only
`xdscore.access.record.PatientRecord`.

Sources: dmp-services.md §2a (TD0.2 answer: status, AUTORISATION, STATUT_MT, RATTACHEMENT_ENS,
COMPTE_INTERNET_OUVERT; TD1.3a: identity, address, legal representatives, oppositions; TD1.6: nationalId,
names, speciality, startOfAuthorization, lastActionDate, mode ACTIVE / INTERDITE) and
dmp-access-and-scale.md §2.2 (blocking, médecin traitant, emergency oppositions).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from xdscore.access.record import (
    ActorKind,
    Authorisation,
    LegalRepresentative,
    PatientRecord,
    RecordStatus,
)
from xdscore.dmpws.gdp import Address, Name, Person, Relationship, Telecom
from xdscore.dmpws.vocabulary import AuthorizationMode

DTM = "%Y%m%d%H%M%S"


def moment(value: str) -> datetime:
    """A stored time (YYYYMMDDhhmmss, UTC) as an aware datetime."""
    return datetime.strptime(value.ljust(14, "0")[:14], DTM).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Actor:
    """A professional or structure the DMP knows: authorised (ACTIVE) or blocked by the patient (INTERDITE);
    a professional may be a médecin traitant DMP of the record (TD0.3 role MEDECIN_TRAITANT)."""

    kind: ActorKind
    actor_id: str
    mode: AuthorizationMode = AuthorizationMode.ACTIVE
    first_name: str = ""
    last_name: str = ""
    specialities: tuple[tuple[str, str], ...] = ()  # (code, label), e.g. ("G15_10/SM26", "Médecin - …")
    structure_id: str = ""  # the structure the professional acted for when last seen
    authorised_at: str = ""  # startOfAuthorization (YYYYMMDDhhmmss UTC); empty if never authorised
    medecin_traitant: bool = False  # médecin traitant DMP of this record (TD1.6 specificRight, TD0.2 STATUT_MT)
    last_action_at: str = ""
    last_access_at: str = ""  # last call of the DMP's services on this record (TD0.4 lastAccessDate)

    @property
    def active(self) -> bool:
        return self.mode is AuthorizationMode.ACTIVE and bool(self.authorised_at)

    @property
    def blocked(self) -> bool:
        return self.mode is AuthorizationMode.INTERDITE


@dataclass(frozen=True)
class StoredRecord:
    patient: str  # str(PatientKey) of the INS, `id^^^&authority&ISO` (xdscore.access.record.patient_key)
    status: RecordStatus = RecordStatus.OPEN
    opposes_bris_de_glace: bool = False
    opposes_centre_15: bool = False
    hidden_from_everyone: bool = False
    masked_visible_in_emergency: bool = False  # the patient lets emergency access see MASQUE_PS documents
    mes_attached: bool = False  # RATTACHEMENT_ENS: attached to Mon espace santé (TD1.3b / TD1.4 refused then)
    internet_account: bool = False  # COMPTE_INTERNET_OUVERT
    person: Person = field(default_factory=Person)
    ins_c: str = ""
    created_at: str = ""
    updated_at: str = ""
    closed_at: str = ""
    closure_reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.status is RecordStatus.OPEN

    def view(self, actors: list[Actor], authorisation_days: int = 0) -> PatientRecord:
        """What the access decision reads (xdscore.access.record); an authorisation ends after
        `authorisation_days` when the platform gives them a lifetime (0: none)."""
        def authorisation(a: Actor) -> Authorisation:
            granted = moment(a.authorised_at)
            ends = granted + timedelta(days=authorisation_days) if authorisation_days > 0 else None
            return Authorisation(a.actor_id, a.kind, granted, ends)

        return PatientRecord(
            patient_id=self.patient,
            status=self.status,
            opposes_bris_de_glace=self.opposes_bris_de_glace,
            opposes_centre_15=self.opposes_centre_15,
            hidden_from_everyone=self.hidden_from_everyone,
            masked_visible_in_emergency=self.masked_visible_in_emergency,
            medecins_traitants=frozenset(a.actor_id for a in actors if a.medecin_traitant and not a.blocked),
            authorised=tuple(authorisation(a) for a in actors if a.active),
            blocked=frozenset(a.actor_id for a in actors if a.kind is ActorKind.PROFESSIONAL and a.blocked),
            legal_representatives=tuple(
                LegalRepresentative(r.id, " ".join([*r.name.given, r.name.family]).strip(), r.code)
                for r in self.person.relationships),
        )


class Change(str, Enum):
    """What one history entry records."""

    CREATED = "created"
    CLOSED = "closed"
    REACTIVATED = "reactivated"
    DATA_UPDATED = "data_updated"
    AUTHORISED = "authorised"
    AUTHORISATION_REMOVED = "authorisation_removed"
    MEDECIN_TRAITANT_NAMED = "medecin_traitant_named"
    MEDECIN_TRAITANT_REMOVED = "medecin_traitant_removed"
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    OPPOSITION_BRIS_DE_GLACE = "opposition_bris_de_glace"
    OPPOSITION_CENTRE_15 = "opposition_centre_15"
    HIDDEN_FROM_EVERYONE = "hidden_from_everyone"
    MASKED_VISIBLE_IN_EMERGENCY = "masked_visible_in_emergency"


@dataclass(frozen=True)
class Who:
    """Who made a change, and through what: a professional (IdNat_PS) over a TD service, the patient or an
    operator over the patient API / CLI, the patient feed."""

    id: str
    name: str = ""
    via: str = ""  # TD0.3, TD1.1, …, api, feed


@dataclass(frozen=True)
class HistoryEntry:
    patient: str
    at: str  # YYYYMMDDhhmmss UTC
    change: Change
    who: Who
    detail: dict[str, Any] = field(default_factory=dict)


# --- the administrative data, stored as JSON ----------------------------------------------------------


def person_json(person: Person) -> str:
    return json.dumps(asdict(person), ensure_ascii=False, sort_keys=True)


def _name(d: dict[str, Any]) -> Name:
    return Name(d.get("family", ""), tuple(d.get("given", ())), d.get("prefix", ""), d.get("birth_family", ""))


def _address(d: dict[str, Any]) -> Address:
    return Address(tuple(d.get("lines", ())), d.get("postal_code", ""), d.get("city", ""), d.get("country", ""),
                   d.get("additional_locator", ""))


def _telecoms(items: list[dict[str, Any]]) -> tuple[Telecom, ...]:
    return tuple(Telecom(t["value"], t.get("use", "")) for t in items)


def person_from_json(text: str) -> Person:
    d = json.loads(text or "{}")
    if not d:
        return Person()
    return Person(
        _name(d.get("name") or {}),
        d.get("gender", ""),
        d.get("birth_time", ""),
        tuple(_address(a) for a in d.get("addresses", ())),
        _telecoms(d.get("telecoms", [])),
        tuple(Relationship(r.get("code", ""), _name(r.get("name") or {}),
                           _address(r["address"]) if r.get("address") else None, _telecoms(r.get("telecoms", [])),
                           r.get("id", ""))
              for r in d.get("relationships", ())),
    )


def person_from_feed(demographics: dict[str, str]) -> Person:
    """The identity the ITI-8 feed gave (PID-5 name, PID-7 birth date, PID-8 sex, PID-11 address, as ER7)."""
    name = demographics.get("name", "").split("~")[0].split("^")
    family, given = [*name, "", ""][:2]
    street, other, city, _state, postal_code, country = (
        demographics.get("address", "").split("~")[0].split("^") + [""] * 6)[:6]  # XAD
    addr = Address(tuple(p for p in (street, other) if p), postal_code, city, country)
    return Person(Name(family, (given,) if given else ()), demographics.get("sex", ""),
                  demographics.get("birth_date", "")[:8], (addr,) if addr != Address() else ())


def with_person(record: StoredRecord, person: Person | None) -> StoredRecord:
    return record if person is None else replace(record, person=person)
