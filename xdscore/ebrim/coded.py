"""Coded values and authors as ebRIM Classifications (ITI TF-3 4.2.3.1.2 coded attributes, 4.2.3.1.4 author)."""

from __future__ import annotations

from xdscore.model import Author, Code, RimClassification, RimExternalIdentifier, RimLocalized, RimSlot
from xdscore.vocabulary import EXTERNAL_IDENTIFIER_NAMES, Slot


def read_code(c: RimClassification) -> Code:
    scheme = c.slot(Slot.CODING_SCHEME)
    return Code(
        code=c.node_representation or "",
        scheme=scheme[0] if scheme else "",
        display=c.name[0].value if c.name else "",
    )


def write_code(code: Code, scheme_uuid: str, owner: str, cid: str) -> RimClassification:
    return RimClassification(
        id=cid,
        classified_object=owner,
        scheme=scheme_uuid,
        node_representation=code.code,
        name=(RimLocalized(code.display),) if code.display else (),
        slots=(RimSlot(Slot.CODING_SCHEME, (code.scheme,)),),
    )


def read_author(c: RimClassification) -> Author:
    person = c.slot(Slot.AUTHOR_PERSON)
    return Author(
        person=person[0] if person else None,
        institutions=c.slot(Slot.AUTHOR_INSTITUTION),
        roles=c.slot(Slot.AUTHOR_ROLE),
        specialties=c.slot(Slot.AUTHOR_SPECIALTY),
        telecommunications=c.slot(Slot.AUTHOR_TELECOMMUNICATION),
    )


def write_author(author: Author, scheme_uuid: str, owner: str, cid: str) -> RimClassification:
    slots = []
    if author.person:
        slots.append(RimSlot(Slot.AUTHOR_PERSON, (author.person,)))
    for name, values in (
        (Slot.AUTHOR_INSTITUTION, author.institutions),
        (Slot.AUTHOR_ROLE, author.roles),
        (Slot.AUTHOR_SPECIALTY, author.specialties),
        (Slot.AUTHOR_TELECOMMUNICATION, author.telecommunications),
    ):
        if values:
            slots.append(RimSlot(name, tuple(values)))
    return RimClassification(
        id=cid, classified_object=owner, scheme=scheme_uuid, node_representation="", slots=tuple(slots)
    )


def first_text(values: tuple[RimLocalized, ...]) -> str | None:
    return values[0].value if values else None


def localized(text: str | None) -> tuple[RimLocalized, ...]:
    """Name / Description content: one LocalizedString, or none when the attribute is absent."""
    return (RimLocalized(text),) if text is not None else ()


def external_identifiers(owner: str, values: tuple[tuple[str, str | None], ...]) -> tuple[RimExternalIdentifier, ...]:
    """(identificationScheme, value) pairs → ExternalIdentifiers named as TF-3 4.2.3 names them."""
    return tuple(
        RimExternalIdentifier(
            id=f"{owner}_{scheme[-4:]}",
            registry_object=owner,
            scheme=scheme,
            value=value,
            name=(RimLocalized(EXTERNAL_IDENTIFIER_NAMES[scheme]),),
        )
        for scheme, value in values
        if value is not None
    )
