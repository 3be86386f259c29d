"""The profession × document-type habilitation matrix (arrêté du 26 octobre 2023, annex "matrice
d'habilitations"; CSP R1111-46: access limited to the document categories the matrix allows the profession).

Data, not code: a table from a TRE_G15 profession code (the VIHF's first role) to the XDS typeCodes (J07 /
J66) that profession may not see. A profession not in the table sees every type. The official annex is a
PDF whose content this project could not read ([U], dmp-access-and-scale.md §2.3); the shipped default holds
only what professional bodies and the press reported of it ([V2]), mapped to J07 type codes, and a deployer
replaces it with the full table (`HabilitationMatrix.from_mapping`, a JSON file in the registry's settings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ATTESTATION_RESIDENCE = "ATTEST-RESID"
ATTESTATION_HEBERGEMENT = "ATTEST-HEBGT"
DIRECTIVES_ANTICIPEES = "EXPPAT_3"
DEMANDE_TELEMEDECINE = "75496-0"
GRILLE_MEDICO_SOCIAL = "34842-5"
SYNTHESE_PSYCHIATRIQUE = "68599-0"
BILAN_PSYCHOLOGIQUE = "83901-9"
BILAN_SANTE_ENFANT = "68817-6"
EXAMEN_ENFANT = "59283-2"
CERTIFICAT_MEDICAL = "89601-9"
ATTESTATION_SORTIE = "86531-1"
LETTRE_SORTIE_MEDICO_SOCIAL = "83981-1"
CR_ACCOUCHEMENT = "15508-5"

# [V2] sources: revuepharma.fr (médecins, pharmaciens), information-dentaire.fr and france-assos-sante.org
# (chirurgiens-dentistes), onpp.fr (pédicures-podologues); dmp-access-and-scale.md §2.3.
DEFAULT_DENIED: dict[str, tuple[str, ...]] = {
    "10": (ATTESTATION_RESIDENCE,),  # médecin: every type but the attestation de résidence
    "21": (  # pharmacien
        DEMANDE_TELEMEDECINE, GRILLE_MEDICO_SOCIAL, SYNTHESE_PSYCHIATRIQUE, BILAN_PSYCHOLOGIQUE,
        BILAN_SANTE_ENFANT, EXAMEN_ENFANT, CERTIFICAT_MEDICAL, DIRECTIVES_ANTICIPEES,
        ATTESTATION_RESIDENCE, ATTESTATION_HEBERGEMENT, ATTESTATION_SORTIE,
    ),
    "40": (  # chirurgien-dentiste
        DEMANDE_TELEMEDECINE, LETTRE_SORTIE_MEDICO_SOCIAL, BILAN_PSYCHOLOGIQUE, SYNTHESE_PSYCHIATRIQUE,
        DIRECTIVES_ANTICIPEES,
    ),
    "80": (CR_ACCOUCHEMENT,),  # pédicure-podologue
}  # fmt: skip


@dataclass(frozen=True)
class HabilitationMatrix:
    denied: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def allows(self, profession: str, type_code: str) -> bool:
        return type_code not in self.denied.get(profession, frozenset())

    @classmethod
    def from_mapping(cls, data: Mapping[str, Sequence[str]]) -> HabilitationMatrix:
        """`{"21": ["EXPPAT_3", ...], ...}`: profession code → denied typeCodes."""
        return cls({str(p): frozenset(str(t) for t in types) for p, types in data.items()})


DEFAULT_MATRIX = HabilitationMatrix.from_mapping(DEFAULT_DENIED)
