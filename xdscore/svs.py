"""Value sets in the IHE SVS format: `RetrieveValueSetResponse` (ITI TF-2b 3.48.4.2, Sharing Value Sets).

The French agency (ANS) publishes its "jeux de valeurs" (JDV) this way (mos.esante.gouv.fr/NOS/<JDV>/<JDV>.xml):
one `ValueSet` with `id` (the OID), `displayName` (the file's name, e.g. `JDV_J57_ClassCode_DMP.tabs`)
and a `ConceptList` of `Concept code codeSystem displayName`. ANS adds attributes of its own
(`urlFichier`, `typeFichier`, `dateMaj`...), which are read when present and never required.

`parse(data)` turns the bytes of one file into `SvsValueSet`s; no I/O here (the registry reads the folder).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xdscore.errors import SoapFault
from xdscore.xmlsafe import parse_bytes

SVS_NS = "urn:ihe:iti:svs:2008"
_SVS = f"{{{SVS_NS}}}"


class SvsError(ValueError):
    """A file that is not an SVS value set (the registry refuses to start with it)."""


@dataclass(frozen=True)
class Concept:
    code: str
    code_system: str
    display_name: str = ""


@dataclass(frozen=True)
class SvsValueSet:
    oid: str
    name: str  # e.g. "JDV_J57-ClassCode-DMP" (from urlFichier, else displayName without ".tabs")
    concepts: tuple[Concept, ...]
    version: str = ""

    @property
    def pairs(self) -> frozenset[tuple[str, str]]:
        """(code, codeSystem) pairs: what an XDS coded value (code, codingScheme) is compared with."""
        return frozenset((c.code, c.code_system) for c in self.concepts)

    @property
    def jdv(self) -> str:
        """The JDV number ("J57") when the name follows ANS's `JDV_Jnn...` pattern, else the name."""
        head = self.name.replace("-", "_").split("_")
        return head[1] if len(head) > 1 and head[0] == "JDV" else self.name

    @property
    def label(self) -> str:
        return f"{self.name} (OID {self.oid})"


def _name(vs: etree._Element) -> str:
    url = (vs.get("urlFichier") or "").rstrip("/")
    if url:
        return url.rsplit("/", 1)[-1]
    display = vs.get("displayName") or ""
    return display.removesuffix(".tabs") or vs.get("id", "")


def _value_set(vs: etree._Element, what: str) -> SvsValueSet:
    oid = (vs.get("id") or "").strip()
    if not oid:
        raise SvsError(f"{what}: a ValueSet has no id (OID)")
    concepts = []
    for c in vs.iter(f"{_SVS}Concept"):
        code, system = (c.get("code") or "").strip(), (c.get("codeSystem") or "").strip()
        if not code or not system:
            raise SvsError(f"{what}: value set {oid} has a Concept without code or codeSystem")
        concepts.append(Concept(code, system, c.get("displayName") or ""))
    if not concepts:
        raise SvsError(f"{what}: value set {oid} has no Concept")
    return SvsValueSet(oid, _name(vs), tuple(concepts), vs.get("version") or vs.get("dateMaj") or "")


def parse(data: bytes, what: str = "value set file") -> tuple[SvsValueSet, ...]:
    """Every ValueSet of a RetrieveValueSetResponse (or RetrieveMultipleValueSetsResponse) document."""
    try:
        root = parse_bytes(data, what=what)
    except SoapFault as fault:  # not XML, a DTD...: the reason goes into the start-up error
        raise SvsError(fault.reason) from None
    if etree.QName(root).namespace != SVS_NS:
        raise SvsError(f"{what}: the root element {root.tag} is not in the SVS namespace {SVS_NS}")
    sets = [_value_set(vs, what) for vs in root.iter(f"{_SVS}ValueSet", f"{_SVS}DescribedValueSet")]
    if not sets:
        raise SvsError(f"{what}: no ValueSet element")
    return tuple(sets)
