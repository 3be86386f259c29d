"""The patient number: the 64-bit key that every registry table is keyed (partitioned, distributed) by.

The registry is distributed by patient (`registry.sql.schema`): each row of a patient's objects, their side
tables and their identifiers carries the patient's key, first in every key and index. The key is not the
43-character text `str(PatientKey)` (CX.1 and the assigning authority, ITI TF-2a 3.8.4.1.2.3) but a number
computed from it, so that no lookup is needed to route a query: the first 8 bytes of SHA-256 of the UTF-8
text, read as a signed big-endian 64-bit integer (PostgreSQL's BIGINT, SQLite's INTEGER). The text stays in
`patients.key_text` (and `merged_into`), the numbers in every other row.

Collisions. Two patients with one number would share each other's rows, so a number held by one patient is
refused to any other where a patient first enters the registry: the ITI-8 feed's `save_patient` (and the A40
merge, which saves an unknown subsumed or surviving id through it). Every other path that writes a patient's
rows (ITI-42, ITI-57) first requires the patient to be known by its text (`SqlReader.patient` compares
`key_text`), and the stored queries by patient check the text too, so an unfed id that shares a fed patient's
number finds nothing. With n patients the chance that any two collide is about n² / 2^65: 1.3 × 10^-4 for the
DMP's 7 × 10^7 records, so over the registry's life a collision is unlikely but not impossible. The refused
patient is logged and its feed message answered AE, for an operator to settle.
"""

from __future__ import annotations

import hashlib

from xdscore.model import PatientKey

NONE = 0  # the number of "no patient" (an association whose ends are unknown): never a fed patient's



def number(key: str) -> int:
    """The number of `str(PatientKey)`; '' (no patient) is NONE."""
    if not key:
        return NONE
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def of(key: PatientKey) -> int:
    return number(str(key))


class PatientNumberCollision(Exception):
    """A patient whose number another patient already holds: refused (its rows would mix with the other's)."""

    def __init__(self, key: str, holder: str, value: int) -> None:
        self.key, self.holder, self.value = key, holder, value
        super().__init__(f"patient {key} has the same 64-bit key ({value}) as the registered patient {holder}"
                         if holder else f"patient {key} has the reserved 64-bit key {value}")
