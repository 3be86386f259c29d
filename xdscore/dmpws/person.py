"""The administrative data of a DMP as its HL7v3 messages carry it (`patientPerson`, PRPA_MT201301 /
201302 / 201310UV02 as the DMP uses them: KIT-MSG TD0.2, TD1.3a, TD1.4; KIT-CS TD1.1): names, addresses,
telecoms, gender, birth date and the legal representatives. Frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Name:
    """HL7v3 PN: civility prefix, given names, used name (family qualifier SP), birth name (BR)."""

    family: str = ""
    given: tuple[str, ...] = ()
    prefix: str = ""
    birth_family: str = ""


@dataclass(frozen=True)
class Address:
    lines: tuple[str, ...] = ()
    postal_code: str = ""
    city: str = ""
    country: str = ""
    additional_locator: str = ""


@dataclass(frozen=True)
class Telecom:
    value: str  # tel:… / mailto:…
    use: str = ""  # HP, MC, …


@dataclass(frozen=True)
class Relationship:
    """A legal representative (`personalRelationship`, code e.g. FTH / MTH)."""

    code: str
    name: Name
    address: Address | None = None
    telecoms: tuple[Telecom, ...] = ()
    id: str = ""  # personalRelationship/id/@extension: how the representative is identified (e.g. an INS)


@dataclass(frozen=True)
class Person:
    """The administrative data of a DMP (`patientPerson`)."""

    name: Name = field(default_factory=Name)
    gender: str = ""  # administrativeGenderCode: M, F, U
    birth_time: str = ""  # YYYYMMDD
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()
    relationships: tuple[Relationship, ...] = ()
