"""What the DMP actor needs from the registry, as a port (the registry implements it on its own store:
`registry.dmp_facts`): the identity the patient feed gave, and the dates of a patient's documents."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DocumentDates:
    """TD0.4 lastAddDate (newest document registered) and lastUpdateDate (newest registry change)."""

    last_add: str = ""  # YYYYMMDDhhmmss UTC
    last_update: str = ""


class RegistryFacts(Protocol):
    def demographics(self, patient: str) -> dict[str, str] | None:
        """The ITI-8 feed's identity of the patient (`str(PatientKey)`), None when it never came."""

    def document_dates(self, patients: Iterable[str]) -> dict[str, DocumentDates]:
        """Per patient with documents; patients without any are left out."""


class NoRegistryFacts:
    """A RegistryFacts that knows nothing (the DMP services without a registry behind them)."""

    def demographics(self, patient: str) -> dict[str, str] | None:
        return None

    def document_dates(self, patients: Iterable[str]) -> dict[str, DocumentDates]:
        return {}
