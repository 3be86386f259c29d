"""The DMP's rights matrix as data: which (authentication, actor, access mode) may do which document
operation, and on which documents.

Transcribed from GIE SESAM-Vitale PDT-INF-526 v1.8 (25/09/2024, "Matrice des droits fonctionnels") and
PDT-INF-606 v1.3 (08/07/2025, the same for AIR, Authentification Indirecte Renforcée), rows TD2.1 to TD3.3:
"diffusée à titre informatif, n'est pas à implémenter par les LPS" — it is what the DMP itself enforces.
Each row is written as the sheet prints it, one cell per column, in the sheet's column order:

    Y  oui
    N  non
    O  oui (6) / oui (8): only the caller's own documents (those it authored)
    S  oui (9): only the documents of the caller's structure (authored by it or one of its CPE)
    C  oui (7): masked documents in régulation / bris de glace only if the patient authorised it

The patient and the legal representatives are not in the sheets (their channel is Mon espace santé):
their row comes from the law (CSP R1111-49, R1111-53, L1111-19; docs/dmp-access.md says how it was
decided).
"""

from __future__ import annotations

from enum import Enum

from xdscore.access.caller import Actor, Authentication, Caller
from xdscore.principal import AccessMode


class Operation(str, Enum):
    """The DMP transactions on documents (DMPi TD numbering); the value names the TD."""

    FEED = "TD2.1"  # TD2.2 for a CPE
    SEARCH = "TD3.1a"  # metadata search (LeafClass)
    LOOKUP = "TD3.1b"  # reference of a document (ObjectRef)
    RETRIEVE = "TD3.2"
    MASK = "TD3.3a mask"
    UNMASK = "TD3.3a unmask"
    SHOW_TO_PATIENT = "TD3.3b"
    ARCHIVE = "TD3.3d archive"
    UNARCHIVE = "TD3.3d unarchive"
    DELETE = "TD3.3c"


class Row(str, Enum):
    """The matrix rows: one per operation, and TD3.2's rows per kind of document."""

    FEED = "TD2.1 / TD2.2 Alimentation"
    SEARCH = "TD3.1 Rechercher les métadonnées"
    LOOKUP = "TD3.1 Rechercher la référence d'un document"
    READ = "TD3.2 Documents non masqués aux PS"
    READ_MASKED = "TD3.2 Documents masqués aux PS"
    READ_INVISIBLE = "TD3.2 Documents non visibles du patient et du représentant légal"
    READ_ARCHIVED = "TD3.2 Documents archivés"
    READ_DEPRECATED = "TD3.2 Documents obsolètes (anciennes versions)"
    READ_DELETED = "TD3.2 Documents supprimés"
    MASK = "TD3.3a Masquer un document aux PS"
    UNMASK = "TD3.3a Démasquer un document aux PS"
    SHOW_TO_PATIENT = "TD3.3b Rendre un document visible au patient"
    ARCHIVE = "TD3.3d Archiver un document"
    UNARCHIVE = "TD3.3d Désarchiver un document"
    DELETE = "TD3.3c Supprimer un document"


class Cell(str, Enum):
    YES = "Y"
    NO = "N"
    OWN = "O"
    STRUCTURE = "S"
    IF_PATIENT_ALLOWS = "C"


OPERATION_ROW = {
    Operation.FEED: Row.FEED,
    Operation.SEARCH: Row.SEARCH,
    Operation.LOOKUP: Row.LOOKUP,
    Operation.RETRIEVE: Row.READ,
    Operation.MASK: Row.MASK,
    Operation.UNMASK: Row.UNMASK,
    Operation.SHOW_TO_PATIENT: Row.SHOW_TO_PATIENT,
    Operation.ARCHIVE: Row.ARCHIVE,
    Operation.UNARCHIVE: Row.UNARCHIVE,
    Operation.DELETE: Row.DELETE,
}

Column = tuple[Authentication, Actor, AccessMode | None]  # None: "sans objet" / "tous" (any mode)

N_, C15, BDG = AccessMode.NORMAL, AccessMode.CENTRE_15, AccessMode.BRIS_DE_GLACE
D, IND, AIR = Authentication.DIRECTE, Authentication.INDIRECTE, Authentication.AIR

# PDT-INF-526 v1.8 columns: CPS/CPF (PS non médecin, médecin non MT, médecin du travail, MT), CPE, certificat ES.
COLUMNS_526: tuple[Column, ...] = (
    (D, Actor.PS_NON_MEDECIN, N_), (D, Actor.PS_NON_MEDECIN, C15), (D, Actor.PS_NON_MEDECIN, BDG),
    (D, Actor.MEDECIN, N_), (D, Actor.MEDECIN, C15), (D, Actor.MEDECIN, BDG),
    (D, Actor.MEDECIN_DU_TRAVAIL, None),
    (D, Actor.MEDECIN_TRAITANT, N_), (D, Actor.MEDECIN_TRAITANT, BDG),
    (D, Actor.NON_PS, N_),
    (IND, Actor.STRUCTURE, N_), (IND, Actor.STRUCTURE, C15),
)
ROWS_526: dict[Row, str] = {
    # TD2.1 for every column but the CPE, whose feeding is TD2.2 (the sheet's next row): oui (4)
    Row.FEED:            "Y Y Y Y Y Y Y Y Y Y Y Y",
    Row.SEARCH:          "Y Y Y Y Y Y Y Y Y N N N",
    Row.LOOKUP:          "Y Y Y Y Y Y Y Y Y Y Y Y",
    Row.READ:            "Y Y Y Y Y Y N Y Y N N N",
    Row.READ_MASKED:     "O C C O C C N Y C N N N",
    Row.READ_INVISIBLE:  "Y Y Y Y Y Y N Y Y N N N",
    Row.READ_ARCHIVED:   "Y Y Y Y Y Y N Y Y N N N",
    Row.READ_DEPRECATED: "Y Y Y Y Y Y N Y Y N N N",
    Row.READ_DELETED:    "Y Y Y Y Y Y N Y Y N N N",
    Row.MASK:            "Y N N Y N N Y Y N N N N",
    Row.UNMASK:          "O N N O N N O Y N N N N",
    Row.SHOW_TO_PATIENT: "Y N N Y N N Y Y N N N N",
    Row.ARCHIVE:         "O N N O Y Y O Y Y N N N",
    Row.UNARCHIVE:       "O N N O Y Y O Y Y N N N",
    Row.DELETE:          "O O O O O O O O O S S S",
}  # fmt: skip

# PDT-INF-606 v1.3 columns (AIR): PS non médecin, médecin non MT, MT, PE non PS. No médecin du travail.
COLUMNS_606: tuple[Column, ...] = (
    (AIR, Actor.PS_NON_MEDECIN, N_), (AIR, Actor.PS_NON_MEDECIN, C15), (AIR, Actor.PS_NON_MEDECIN, BDG),
    (AIR, Actor.MEDECIN, N_), (AIR, Actor.MEDECIN, C15), (AIR, Actor.MEDECIN, BDG),
    (AIR, Actor.MEDECIN_TRAITANT, N_), (AIR, Actor.MEDECIN_TRAITANT, BDG),
    (AIR, Actor.NON_PS, N_),
)
ROWS_606: dict[Row, str] = {
    Row.FEED:            "N N N N N N N N N",
    Row.SEARCH:          "Y Y Y Y Y Y Y Y N",
    Row.LOOKUP:          "Y Y Y Y Y Y Y Y Y",
    Row.READ:            "Y Y Y Y Y Y Y Y N",
    Row.READ_MASKED:     "O C C O C C Y C N",
    Row.READ_INVISIBLE:  "Y Y Y Y Y Y Y Y N",
    Row.READ_ARCHIVED:   "Y Y Y Y Y Y Y Y N",
    Row.READ_DEPRECATED: "Y Y Y Y Y Y Y Y N",
    Row.READ_DELETED:    "Y Y Y Y Y Y Y Y N",
    Row.MASK:            "Y N N Y N N Y N N",
    Row.UNMASK:          "O N N O N N Y N N",
    Row.SHOW_TO_PATIENT: "Y N N Y N N Y N N",
    Row.ARCHIVE:         "O N N Y Y Y Y Y N",
    Row.UNARCHIVE:       "O N N Y Y Y Y Y N",
    Row.DELETE:          "O O O O O O O O S",
}  # fmt: skip

# The patient (CSP L1111-19: sees the record; R1111-49: masks and unmasks; R1111-53: INVISIBLE_PATIENT
# until announced; MATRIX "*": deletes its own documents) and the legal representatives (the same, and
# never INVISIBLE_REPRESENTANTS_LEGAUX, rule 19). Archived and obsolete versions are shown, deleted ones
# are not; archiving and making visible are professionals' acts. [U]: no official sheet; docs/dmp-access.md.
PATIENT_SIDE: dict[Row, str] = {
    Row.FEED: "O", Row.SEARCH: "Y", Row.LOOKUP: "Y",
    Row.READ: "Y", Row.READ_MASKED: "Y", Row.READ_INVISIBLE: "Y", Row.READ_ARCHIVED: "Y",
    Row.READ_DEPRECATED: "Y", Row.READ_DELETED: "N",
    Row.MASK: "Y", Row.UNMASK: "Y", Row.SHOW_TO_PATIENT: "N", Row.ARCHIVE: "N", Row.UNARCHIVE: "N",
    Row.DELETE: "O",
}  # fmt: skip


def _table(columns: tuple[Column, ...], rows: dict[Row, str]) -> dict[Column, dict[Row, Cell]]:
    table: dict[Column, dict[Row, Cell]] = {c: {} for c in columns}
    for row, cells in rows.items():
        values = cells.split()
        if len(values) != len(columns):
            raise ValueError(f"matrix row {row.value!r} has {len(values)} cells for {len(columns)} columns")
        for column, value in zip(columns, values, strict=True):
            table[column][row] = Cell(value)
    return table


MATRIX: dict[Column, dict[Row, Cell]] = {**_table(COLUMNS_526, ROWS_526), **_table(COLUMNS_606, ROWS_606)}


def column_of(caller: Caller) -> Column | None:
    """The caller's column; None when the sheets have none (e.g. a CPE in bris de glace, a médecin du
    travail in AIR, a structure certificate in bris de glace). A médecin traitant in centre 15 mode is
    a régulation médecin: the sheets give the MT no régulation column."""
    actor = caller.actor
    if actor is Actor.MEDECIN_TRAITANT and caller.mode is AccessMode.CENTRE_15:
        actor = Actor.MEDECIN
    for column in ((caller.authentication, actor, caller.mode), (caller.authentication, actor, None)):
        if column in MATRIX:
            return column
    return None


def cell(caller: Caller, row: Row) -> Cell | None:
    """The matrix cell for this caller and row; None when the caller has no column."""
    if caller.actor in (Actor.PATIENT, Actor.LEGAL_REPRESENTATIVE):
        return Cell(PATIENT_SIDE[row])
    column = column_of(caller)
    return MATRIX[column][row] if column is not None else None
