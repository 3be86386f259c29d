"""HL7 v2 messages in ER7, the "pipe and hat" encoding (HL7 v2.5 Chapter 2, 2.5-2.7): segments, fields,
repetitions, components, in time linear in the message. No I/O.

What the Patient Identity Feed (ITI-8) reads is raw field text: CX identifiers (PID-3, MRG-1), the first
repetition of a few demographic fields. So this reader splits and never interprets; escape sequences
(\\F\\, \\S\\, ...) are left as they are, as hl7apy's `to_er7()` left them. Separators are those the
message declares in MSH-1 and MSH-2; values are handed out with the standard component and
subcomponent separators (^ and &), so that `xdscore.model.PatientKey` reads any message the same way.

Why not hl7apy, which this module replaced in the feed (issue 16): its parser costs about 1 ms per field
repetition, growing with the segment, so a 150 KB ADT whose PIDs carry 800 identifiers each took 9 s of
CPU, and a 1 MB frame could hold the feed for a minute. Splitting on the separators costs ~0.1 s for 3 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

STANDARD_ENCODING = "^~\\&"  # MSH-2: component, repetition, escape, subcomponent


class Hl7Error(ValueError):
    """The text is not an ER7 message this reader can split (no MSH, bad separators, too many segments)."""


@dataclass(frozen=True)
class Separators:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def standard(self, value: str) -> str:
        """`value` with this message's component and subcomponent separators written as ^ and &, and
        without trailing empty components or subcomponents (`Doe^John^^^` is `Doe^John`, as HL7 v2.5
        2.5.3 counts them absent)."""
        if self.component != "^" or self.subcomponent != "&":
            value = value.translate({ord(self.component): "^", ord(self.subcomponent): "&"})
        if not value.endswith(("^", "&")) and "&^" not in value:
            return value
        components = [c.rstrip("&") for c in value.split("^")]
        while components and not components[-1]:
            components.pop()
        return "^".join(components)


@dataclass(frozen=True)
class Segment:
    """One segment; `fields[n]` is SEG-n (for MSH, `fields[1]` is MSH-1, the field separator itself)."""

    name: str
    fields: tuple[str, ...]
    separators: Separators

    def field(self, n: int) -> str:
        """SEG-n as sent (all its repetitions), "" when absent."""
        return self.fields[n] if 0 < n < len(self.fields) else ""

    def repetitions(self, n: int) -> list[str]:
        """The non-empty repetitions of SEG-n, with standard component separators."""
        raw = self.field(n)
        return [self.separators.standard(r) for r in raw.split(self.separators.repetition) if r] if raw else []

    def first(self, n: int) -> str:
        """The first repetition of SEG-n ("" when absent), with standard component separators."""
        raw = self.field(n)
        return self.separators.standard(raw.split(self.separators.repetition, 1)[0]) if raw else ""


@dataclass(frozen=True)
class Message:
    separators: Separators
    segments: tuple[Segment, ...]

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    @property
    def msh(self) -> Segment:
        return self.segments[0]


def segment_texts(text: str) -> list[str]:
    """The segments of a message: CR-separated (a lone LF accepted), empty ones dropped."""
    return [s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]


def separators_of(msh: str) -> Separators:
    """MSH-1 and MSH-2 (HL7 v2.5 2.5.4): the field separator, then four (v2.7: five) encoding characters."""
    if not msh.startswith("MSH") or len(msh) < 8:
        raise Hl7Error("the message does not start with an MSH segment declaring its separators")
    field = msh[3]
    encoding = msh[4:].split(field, 1)[0]
    if len(encoding) not in (4, 5) or len(set(encoding + field)) != len(encoding) + 1 or field.isalnum():
        raise Hl7Error(f"MSH-1/MSH-2 {msh[3:12]!r} are not a field separator and four distinct encoding characters")
    return Separators(field, encoding[0], encoding[1], encoding[2], encoding[3])


def parse(text: str, names: frozenset[str] | None = None, max_segments: int | None = None) -> Message:
    """Split an ER7 message; only segments named in `names` are split into fields (all when None).

    Hl7Error when there is no valid MSH first, or more than `max_segments` segments."""
    texts = segment_texts(text)
    if max_segments is not None and len(texts) > max_segments:
        raise Hl7Error(f"the message has {len(texts)} segments; at most {max_segments} are accepted")
    if not texts:
        raise Hl7Error("the message is empty")
    separators = separators_of(texts[0])
    segments = []
    for i, raw in enumerate(texts):
        name = raw[:3]
        if names is not None and name not in names and i:
            continue
        fields = raw.split(separators.field)
        if i == 0:  # MSH-1 is the separator itself: MSH-n is then fields[n] as for every other segment
            fields.insert(1, separators.field)
        segments.append(Segment(name, tuple(fields), separators))
    return Message(separators, tuple(segments))
