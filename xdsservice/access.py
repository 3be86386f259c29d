"""DMP access rules in a service (XDS_PROFILE=dmp): settings, the patient-record port, who is calling.

Shared by the registry (ITI-18, ITI-42, ITI-57) and the repository (ITI-41, ITI-43); the decision itself
is `xdscore.access.decide`, pure. Settings (`access_*` keys in `[registry]` / `[repository]`,
XDS_ACCESS_* for both, XDS_REGISTRY_ACCESS_* / XDS_REPOSITORY_ACCESS_* for one):

- `records`: where patient records come from, `module:callable` returning an
  `xdscore.access.record.PatientRecords` (the `dmp/` actor's store); a service may also be given one in
  its constructor. None configured: no patient has a DMP, so every DMP transaction is refused (rule 1).
- `habilitations`: a JSON file `{"<TRE_G15 profession>": ["<typeCode>", ...]}` replacing the shipped
  profession × document-type table (`xdscore.access.habilitation`).
- `announcement_days` / `notice_days`: the INVISIBLE_PATIENT delays (CSP R1111-53: one month, two weeks).
- `timer_seconds`: how often the registry's announcement job runs.

Who is calling: the verified Principal (VIHF). A call without one is served as a trusted system only when
its connection presented a TLS client certificate the server verified (the repository forwarding a
DIRECTE caller's submission, docs/dmp.md); otherwise it is refused: the DMP takes no anonymous call.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from xdscore.access.decide import AccessPolicy
from xdscore.access.habilitation import DEFAULT_MATRIX, HabilitationMatrix
from xdscore.access.record import PatientRecord, PatientRecords
from xdsservice.config import Layout, SettingsError, Vars, setting
from xdsservice.security import client_certificate

log = logging.getLogger("xds.access")


@dataclass(frozen=True)
class AccessSettings:
    records: str = ""  # module:callable → PatientRecords
    habilitations: str = ""  # JSON file replacing the profession × typeCode table
    announcement_days: float = setting(30.0, minimum=0)
    notice_days: float = setting(14.0, minimum=0)
    timer_seconds: float = setting(3600.0, minimum=0.05)

    @classmethod
    def layout(cls, service: str) -> Layout:
        return Layout(tables=((service,),), key_prefix="access_",
                      env=(Vars("XDS_ACCESS_"), Vars(f"XDS_{service.upper()}_ACCESS_")))

    def complete(self, _sources: object, _service: str) -> AccessSettings:
        return self

    def policy(self) -> AccessPolicy:
        return AccessPolicy(
            habilitations=load_habilitations(self.habilitations),
            announcement_delay=timedelta(days=self.announcement_days),
            announcement_notice=timedelta(days=self.notice_days),
        )


class NoRecords:
    """The port when none is configured: no patient has a DMP."""

    def record_for(self, patient_id: str) -> PatientRecord | None:
        return None


def load_habilitations(path: str) -> HabilitationMatrix:
    if not path:
        return DEFAULT_MATRIX
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"access_habilitations: {path} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise SettingsError(f"access_habilitations: {path} must map profession codes to lists of typeCodes")
    return HabilitationMatrix.from_mapping(data)


def load_records(settings: AccessSettings) -> PatientRecords:
    """The configured `module:callable`'s PatientRecords, else `NoRecords` (with a warning)."""
    if not settings.records:
        log.warning("profile dmp: no patient records configured (access_records); every DMP call is refused")
        return NoRecords()
    module, _, name = settings.records.partition(":")
    try:
        factory = getattr(importlib.import_module(module), name or "records")
    except (ImportError, AttributeError) as exc:
        raise SettingsError(f"access_records: cannot load {settings.records!r}: {exc}") from None
    records: PatientRecords = factory()
    return records


def trusted_system(context: Any) -> bool:
    """An anonymous call over a TLS connection whose client certificate the server verified."""
    return client_certificate(context) is not None
