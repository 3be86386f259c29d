"""Request bodies checked against the ebRS 3.0 / IHE XDS.b schemas before anything reads them.

ITI TF-2b 3.41.4.1.3, 3.42.4.1.3 and TF-2a 3.18.4.1.3 ask the receiver to refuse metadata that is not
well-formed ebRIM. The schemas of `schemas/` say what well-formed is: the child order of every registry
object (`Slot*`, `Name?`, `Description?`, `VersionInfo?`, `Classification*`, `ExternalIdentifier*`), the
six object kinds an XDS RegistryObjectList may hold, required attributes. RMD.xsd imports IHEXDSB.xsd,
which imports rim, rs, lcm and query: one compiled schema covers every XDS.b body, ITI-86's included.
libxml2 validates a one-document SubmitObjectsRequest in about 0.03 ms and a 100-document one (500 KB) in
5 ms, less than parsing it costs (bench/schema_validation.py, docs/interop.md).

`violations(element, code)` gives one Violation per schema error (at most `MAX_REPORTED`), each naming the
element by its prefixed name, its line and its path, located at the id of the registry object it is in.
The schema is compiled once per process, on first use.

One leniency, for stored queries only (`query=True`): a parameter `rim:Value` longer than ebRIM's LongName
(256 characters) is accepted. TF-2a 3.18.4.1.2.3.5 lets a client split a long list over several Value
elements, but many clients (ours, `xdscore.queries.encode_request`, among them) write the whole list in one;
the decoder's own limits (`query_max_values`, `query_max_like_length`) bound what a query may hold.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lxml import etree

from xdscore.errors import Violation
from xdscore.vocabulary import NSMAP, ErrorCode
from xdsservice.wsdl import SCHEMA_DIR

MAX_REPORTED = 10
_PREFIX_OF = {ns: prefix for prefix, ns in NSMAP.items()}
_CLARK = re.compile(r"\{([^}]*)\}")
_ELEMENT = re.compile(r"Element '([^']+)'")


@lru_cache(maxsize=1)
def xds_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "RMD.xsd")))


def _prefixed(text: str) -> str:
    """`{urn:...rim:3.0}Name` → `rim:Name` in libxml2's messages."""
    return _CLARK.sub(lambda m: f"{_PREFIX_OF[m.group(1)]}:" if m.group(1) in _PREFIX_OF else m.group(0), text)


def _located(element: etree._Element, path: str) -> tuple[str, str]:
    """(element name, id of the nearest registry object holding it) for a libxml2 error path, which starts
    at the validated element (`/lcm:SubmitObjectsRequest/rim:RegistryObjectList/...`)."""
    _, _, rest = path.lstrip("/").partition("/")
    try:
        found = element.xpath(rest, namespaces={k: v for k, v in element.nsmap.items() if k} | NSMAP) if rest else [element]
    except etree.XPathError:
        return "", ""
    if not isinstance(found, list) or not found or not isinstance(found[0], etree._Element):
        return "", ""
    el: etree._Element | None = found[0]
    name = _prefixed(str(found[0].tag)) if isinstance(found[0].tag, str) else ""
    while el is not None:
        if el.get("id") is not None:
            return name, str(el.get("id"))
        el = el.getparent()
    return name, ""


_VALUE = f"{{{NSMAP['rim']}}}Value"


def violations(element: etree._Element, code: ErrorCode, query: bool = False) -> list[Violation]:
    """Every schema error of `element` as a Violation with `code` (none when it validates)."""
    schema = xds_schema()
    if schema.validate(element):
        return []
    out: list[Violation] = []
    errors = list(schema.error_log)
    if query:
        errors = [e for e in errors if not (e.type_name == "SCHEMAV_CVC_MAXLENGTH_VALID" and _VALUE in e.message)]
    for error in errors[:MAX_REPORTED]:
        name, location = _located(element, error.path or "")
        where = f" (line {error.line})" if error.line else ""
        message = _prefixed(error.message)
        if not name:
            named = _ELEMENT.search(message)
            name = named.group(1) if named else "element"
        out.append(Violation(code, f"ebRS 3.0 schema: {name}{where}: {message}", location))
    return out
