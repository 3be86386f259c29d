"""How much one SubmitObjectsRequest may hold (ITI-42, and the metadata of an ITI-41): registry objects,
Slots and Slot values, counted on the received XML before anything reads it (issue 16).

IHE sets no such bounds; a registry needs them all the same. Without them one request of 10,000
DocumentEntries (51 MB) or of 200,000 Slots on one entry (19 MB) was accepted: 35 s and 9 s of work,
and 600 MB and 460 MB of memory kept after it. The counts are XPath, in C (tens of milliseconds for
190,000 Slots, microseconds for a usual submission). Beyond a limit the answer is `XDSRegistryMetadataError`
naming the limit and its setting: the metadata is what is too large, not the registry that is short of
resources (`XDSRegistryOutOfResources` says the latter).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xdscore.errors import Violation
from xdscore.vocabulary import NS, ErrorCode


@dataclass(frozen=True)
class SubmissionLimits:
    max_objects: int = 2_000  # children of rim:RegistryObjectList (objects, Associations, Classifications, ...)
    max_slots: int = 40_000  # rim:Slot elements in the whole request
    max_values: int = 100_000  # rim:Value elements in the whole request


def violations(request: etree._Element, limits: SubmissionLimits) -> list[Violation]:
    """One XDSRegistryMetadataError per limit the SubmitObjectsRequest `request` exceeds."""
    out: list[Violation] = []
    objects = int(_OBJECTS(request))
    if objects > limits.max_objects:
        out.append(_over(f"{objects} registry objects", limits.max_objects, "submission_max_objects"))
    slots = int(_SLOTS(request))
    if slots > limits.max_slots:
        out.append(_over(f"{slots} Slots", limits.max_slots, "submission_max_slots"))
    values = int(_VALUES(request))
    if values > limits.max_values:
        out.append(_over(f"{values} Slot values", limits.max_values, "submission_max_values"))
    return out


# Counted by XPath: C speed, and without holding the GIL (a large request is handled in a worker thread).
_OBJECTS = etree.XPath("count(rim:RegistryObjectList/*)", namespaces={"rim": NS.RIM})
_SLOTS = etree.XPath("count(.//rim:Slot)", namespaces={"rim": NS.RIM})
_VALUES = etree.XPath("count(.//rim:Value)", namespaces={"rim": NS.RIM})


def _over(found: str, limit: int, setting: str) -> Violation:
    return Violation(
        ErrorCode.XDSRegistryMetadataError,
        f"the submission has {found}; this service accepts at most {limit} ({setting})",
    )
