"""The patient's choices on their DMP (dmp-access-and-scale.md §2.2 rules 8-10, 15-17; as Mon espace santé
offers them): block or unblock a professional, oppose emergency access (bris de glace, centre 15), hide
everything, name or remove the médecin traitant, authorise or withdraw a professional or a structure, and
open or close the DMP, let emergency access see documents masked to professionals. Plain functions over a `RecordTx`; each change is one history entry, written in the
same transaction, and audited by the caller (`dmp.api`).

Rules kept here: a blocked professional loses their authorisation and, if they were médecin traitant, that
role; a blocked professional cannot be named médecin traitant or authorised until unblocked; naming a
médecin traitant authorises them (a DMP may have several, as the access rules' model allows); unblocking
gives no authorisation back; withdrawing a médecin traitant's authorisation ends the role.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dmp.model import Actor, Change, HistoryEntry, StoredRecord, Who
from dmp.rights import find
from dmp.store import RecordTx
from xdscore.access.record import ActorKind, RecordStatus
from xdscore.dmpws.gdp import Person
from xdscore.dmpws.vocabulary import AuthorizationMode


class ChoiceError(Exception):
    """A choice that cannot be made; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Named:
    """A professional or structure named in a choice."""

    id: str
    first_name: str = ""
    last_name: str = ""


class Choices:
    """The choices on one patient's DMP, inside one transaction."""

    def __init__(self, tx: RecordTx, patient: str, who: Who, now: str) -> None:
        self.tx, self.patient, self.who, self.now = tx, patient, who, now
        self.changes: list[HistoryEntry] = []

    def _log(self, change: Change, **detail: object) -> None:
        entry = HistoryEntry(self.patient, self.now, change, self.who, dict(detail))
        self.tx.log(entry)
        self.changes.append(entry)

    def record(self) -> StoredRecord:
        record = self.tx.record(self.patient)
        if record is None:
            raise ChoiceError(404, f"patient {self.patient} has no DMP")
        return record

    def _save(self, record: StoredRecord) -> None:
        self.tx.save(replace(record, updated_at=self.now))

    # --- the DMP itself ---

    def open(self, person: Person | None = None) -> None:
        record = self.tx.record(self.patient)
        if record is not None and record.is_open:
            return
        if record is None:
            self.tx.save(StoredRecord(self.patient, RecordStatus.OPEN, person=person or Person(), created_at=self.now,
                                      updated_at=self.now))
            self._log(Change.CREATED)
        else:
            self._save(replace(record, status=RecordStatus.OPEN, closed_at="", closure_reason=""))
            self._log(Change.REACTIVATED)

    def close(self, reason: str = "FERMETURE_DEMANDE_PATIENT") -> None:
        record = self.record()
        if record.is_open:
            self._save(replace(record, status=RecordStatus.CLOSED, closed_at=self.now, closure_reason=reason))
            self._log(Change.CLOSED, reason=reason)

    # --- emergency access and hiding ---

    def oppose(self, bris_de_glace: bool | None = None, centre_15: bool | None = None) -> None:
        record = self.record()
        changed = replace(
            record,
            opposes_bris_de_glace=record.opposes_bris_de_glace if bris_de_glace is None else bris_de_glace,
            opposes_centre_15=record.opposes_centre_15 if centre_15 is None else centre_15,
        )
        if changed.opposes_bris_de_glace != record.opposes_bris_de_glace:
            self._log(Change.OPPOSITION_BRIS_DE_GLACE, opposed=changed.opposes_bris_de_glace)
        if changed.opposes_centre_15 != record.opposes_centre_15:
            self._log(Change.OPPOSITION_CENTRE_15, opposed=changed.opposes_centre_15)
        if changed != record:
            self._save(changed)

    def hide_from_everyone(self, hidden: bool) -> None:
        record = self.record()
        if record.hidden_from_everyone != hidden:
            self._save(replace(record, hidden_from_everyone=hidden))
            self._log(Change.HIDDEN_FROM_EVERYONE, hidden=hidden)

    def show_masked_in_emergency(self, shown: bool) -> None:
        """Let emergency access (bris de glace, centre 15) see MASQUE_PS documents (MATRIX TD3.2 (6)(7))."""
        record = self.record()
        if record.masked_visible_in_emergency != shown:
            self._save(replace(record, masked_visible_in_emergency=shown))
            self._log(Change.MASKED_VISIBLE_IN_EMERGENCY, shown=shown)

    # --- professionals and structures ---

    def block(self, who: Named) -> None:
        self.record()
        row = find(self.tx.actors(self.patient), ActorKind.PROFESSIONAL, who.id)
        if row is not None and row.blocked:
            return
        base = row or Actor(ActorKind.PROFESSIONAL, who.id, first_name=who.first_name, last_name=who.last_name)
        self.tx.save_actor(self.patient, replace(base, mode=AuthorizationMode.INTERDITE, authorised_at="",
                                                 medecin_traitant=False, last_action_at=self.now,
                                                 first_name=who.first_name or base.first_name,
                                                 last_name=who.last_name or base.last_name))
        self._log(Change.BLOCKED, professional=who.id)
        if row is not None and row.medecin_traitant:
            self._log(Change.MEDECIN_TRAITANT_REMOVED, professional=who.id)

    def unblock(self, professional: str) -> None:
        self.record()
        row = find(self.tx.actors(self.patient), ActorKind.PROFESSIONAL, professional)
        if row is not None and row.blocked:
            self.tx.remove_actor(self.patient, ActorKind.PROFESSIONAL, professional)
            self._log(Change.UNBLOCKED, professional=professional)

    def authorise(self, kind: ActorKind, who: Named) -> Actor:
        self.record()
        row = find(self.tx.actors(self.patient), kind, who.id)
        if row is not None and row.blocked:
            raise ChoiceError(409, f"professional {who.id} is blocked: unblock them first")
        if row is not None and row.active:
            return row
        actor = Actor(kind, who.id, AuthorizationMode.ACTIVE, who.first_name, who.last_name, authorised_at=self.now,
                      last_action_at=self.now)
        self.tx.save_actor(self.patient, actor)
        self._log(Change.AUTHORISED, **{_label(kind): who.id})
        return actor

    def withdraw(self, kind: ActorKind, actor_id: str) -> None:
        self.record()
        row = find(self.tx.actors(self.patient), kind, actor_id)
        if row is None or not row.active:
            return
        self.tx.remove_actor(self.patient, kind, actor_id)
        self._log(Change.AUTHORISATION_REMOVED, **{_label(kind): actor_id})
        if row.medecin_traitant:  # the role goes with the authorisation it acts under
            self._log(Change.MEDECIN_TRAITANT_REMOVED, professional=actor_id)

    def name_medecin_traitant(self, who: Named) -> None:
        actor = self.authorise(ActorKind.PROFESSIONAL, who)
        if not actor.medecin_traitant:
            self.tx.save_actor(self.patient, replace(actor, medecin_traitant=True, last_action_at=self.now))
            self._log(Change.MEDECIN_TRAITANT_NAMED, professional=who.id)

    def remove_medecin_traitant(self, professional: str) -> None:
        self.record()
        row = find(self.tx.actors(self.patient), ActorKind.PROFESSIONAL, professional)
        if row is not None and row.medecin_traitant:
            self.tx.save_actor(self.patient, replace(row, medecin_traitant=False, last_action_at=self.now))
            self._log(Change.MEDECIN_TRAITANT_REMOVED, professional=professional)


def _label(kind: ActorKind) -> str:
    return "professional" if kind is ActorKind.PROFESSIONAL else "structure"
