"""The caller's standing on one DMP record, read by the TD services (dmp-services.md §2a TD0.2 AUTORISATION,
STATUT_MT; §2b rules 2, 3), as the access rules compute it (`xdscore.access.record.PatientRecord`):
blocked by the patient (INTERDIT), authorised (VALIDE; the médecin traitant is), authorised once but no
longer (EXPIRE, with the platform's authorisation lifetime), or not (NON_EXISTE). An INDIRECTE caller
(the structure's seal) is also judged on its structure's authorisation.
"""

from __future__ import annotations

from dmp.caller import Caller
from dmp.model import Actor, StoredRecord, moment
from xdscore.access.record import ActorKind
from xdscore.dmpws.vocabulary import Authorization


def find(actors: list[Actor], kind: ActorKind, actor_id: str) -> Actor | None:
    return next((a for a in actors if a.kind is kind and a.actor_id == actor_id), None) if actor_id else None


def authorization(caller: Caller, record: StoredRecord, actors: list[Actor], now: str, lifetime_days: int) -> Authorization:
    view = record.view(actors, lifetime_days)
    status = view.authorisation_of(moment(now), caller.national_id, caller.structure_id if caller.indirect else "")
    return Authorization(status.value)


def is_medecin_traitant(caller: Caller, actors: list[Actor]) -> bool:
    row = find(actors, ActorKind.PROFESSIONAL, caller.national_id)
    return row is not None and row.medecin_traitant and not row.blocked
