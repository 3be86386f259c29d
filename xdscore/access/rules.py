"""The DMP's access rules, numbered as `../shared/spec/dmp-services.md` §2b numbers them, with their sources.

A `Decision` names the rule that produced it, so a refusal's reason, the audit trace and the tests all
point back to one row here (and to its source text).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Rule:
    id: int
    summary: str
    source: str


RULES: dict[int, Rule] = {r.id: r for r in (
    Rule(1, "the DMP must exist and be open", "PDSM4DMP TD2.x / TD3.x prerequisites"),
    Rule(2, "consultation needs a valid authorisation, except feeding, TD3.3 on one's own documents and "
            "the emergency modes", "PDSM4DMP TD0.2, TD3.1a, TD3.3c NB1"),
    Rule(3, "a professional blocked by the patient never gets in", "PDSM4DMP TD0.2 NB1; CSP L1111-19"),
    Rule(4, "only an author adds or replaces a document (DIRECTE: its IdNat_PS; indirect / CPE: its "
            "structure)", "EX_2.1-1140; MATRIX note (4)"),
    Rule(5, "delete: professionals their own documents, indirect / CPE their structure's, a "
            "patient-authored document the MT or the patient", "MATRIX TD3.3c (8)(9)(*); PDSM4DMP TD3.3c NB2"),
    Rule(6, "archive / unarchive: own documents in normal mode, the MT any, médecins in régulation and bris "
            "de glace; not indirect / CPE", "MATRIX TD3.3d rows"),
    Rule(7, "mask: professionals in normal mode; unmask: own documents, the MT any", "MATRIX TD3.3a rows"),
    Rule(8, "make visible to the patient: professionals in normal mode, médecin du travail, MT",
            "MATRIX TD3.3b row"),
    Rule(9, "MASQUE_PS documents: their author and the MT; in régulation / bris de glace only if the patient "
            "allowed it; never the médecin du travail", "MATRIX TD3.2 notes (6)(7); CSP L1111-16, R1111-49"),
    Rule(10, "INVISIBLE_PATIENT documents: seen by professionals, hidden from the patient and legal "
             "representatives until announced (shown at D+30, notice at D+14)", "MATRIX TD3.2; CSP R1111-53"),
    Rule(11, "archived, obsolete and deleted documents remain consultable by professionals",
             "MATRIX TD3.2 rows"),
    Rule(12, "what each authentication may do: indirect (structure) feeds and looks up references only, AIR "
             "consults but does not feed, CPE feeds (TD2.2) and looks up references",
             "MATRIX PDT-INF-526 v1.8, PDT-INF-606 v1.3"),
    Rule(13, "médecin du travail: metadata search, no retrieve", "MATRIX"),
    Rule(14, "emergency modes refused when the patient opposed them (or hid every document)",
             "KIT-MSG TD1.3a; CSP L1111-17"),
    Rule(15, "the profession × document-type habilitation matrix", "arrêté du 26/10/2023 annex; CSP R1111-46"),
    Rule(16, "a metadata update is a new version: new entryUUID, same logicalId",
             "PDSM4DMP annexe_identifiants_xds_fhir"),
    Rule(17, "signature entries carry MASQUE_PS + INVISIBLE_PATIENT: hidden from all but their author "
             "(and the MT)", "KIT-MSG TD2.1"),
    Rule(18, "metadata value rules (J57-J66 value sets, INS patient id)", "PDSM4DMP; docs/dmp.md"),
    Rule(19, "INVISIBLE_REPRESENTANTS_LEGAUX documents are never shown to the legal representatives",
             "HL7V2-IG (connexion secrète); CSP L1111-5"),
    Rule(20, "the DMP does not say why a document is not returned: deleted, masked or not habilitated look "
             "the same", "industriels.esante.gouv.fr FAQ (CDA.DD.05)"),
)}  # fmt: skip


class Effect(str, Enum):
    ALLOW = "allow"
    HIDE = "hide"  # the entry is left out of the answer, as if it did not exist (rule 20)
    REFUSE = "refuse"  # the whole request is refused with the reason


@dataclass(frozen=True)
class Decision:
    effect: Effect
    rule: int  # 0: no rule needed (the operation is plainly allowed)
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW

    @property
    def source(self) -> str:
        return RULES[self.rule].source if self.rule in RULES else ""


ALLOW = Decision(Effect.ALLOW, 0)


def allow(rule: int = 0) -> Decision:
    return Decision(Effect.ALLOW, rule)


def hide(rule: int, reason: str) -> Decision:
    return Decision(Effect.HIDE, rule, reason)


def refuse(rule: int, reason: str) -> Decision:
    return Decision(Effect.REFUSE, rule, reason)
