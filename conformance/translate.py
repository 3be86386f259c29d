"""ebRS 2.1 → ebRS 3.0 translation of the NIST test kit's SubmitObjectsRequest templates (ITI TF-3 4.2.2).

Most Register / Provide and Register templates of the test kit are written in ebRIM 2.1 (the XDS.a syntax);
the toolkit converts them to ebRIM 3.0 before sending. This module reproduces that conversion as the
toolkit does it (NIST `registry-metadata/.../TranslateToV3.java`, facts only):

- every element moves to the rim 3.0 namespace; `ObjectRef` elements are dropped;
- children are re-ordered Slot, Name, Description, VersionInfo, Classification, ExternalIdentifier, then
  the rest (ebRIM 3.0 content model);
- `status` gets the `urn:oasis:names:tc:ebxml-regrep:StatusType:` prefix, `associationType` its 3.0 URN
  (`HasMember` → ebXML namespace, `RPLC`/`XFRM`/`APND`/`XFRM_RPLC`/`signs` → `urn:ihe:iti:2007:...`),
  `minorVersion`/`majorVersion` are dropped, `lang` becomes `xml:lang`;
- RegistryPackage, Association, Classification and ExternalIdentifier get their ebRIM 3.0 `objectType`;
- Association and Classification get an `id` (`id_N`) when they have none; an ExternalIdentifier gets an
  `id` and `registryObject` = the id of the object that contains it.

`submit_objects_request` turns any template (2.1 or 3.0 SubmitObjectsRequest, or a whole 3.0
ProvideAndRegisterDocumentSetRequest) into a fresh 3.0 `lcm:SubmitObjectsRequest` holding the objects in
document order, as the toolkit's `Metadata.getV3SubmitObjectsRequest` does.
"""

from __future__ import annotations

import copy

from lxml import etree

from xdscore.vocabulary import NS

RIM21 = "urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1"
RS21 = "urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1"
XML_NS = "http://www.w3.org/XML/1998/namespace"

STATUS_PREFIX = "urn:oasis:names:tc:ebxml-regrep:StatusType:"
OBJECT_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:"
_EBXML_ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:AssociationType:"
_IHE_2007_ASSOCIATION = "urn:ihe:iti:2007:AssociationType:"
_IHE_2010_ASSOCIATION = "urn:ihe:iti:2010:AssociationType:"
_IHE_2007_TYPES = frozenset({"RPLC", "XFRM", "APND", "XFRM_RPLC", "signs"})
_IHE_2010_TYPES = frozenset({"IsSnapshotOf", "UpdateAvailabilityStatus", "SubmitAssociation"})

_ORDER = ("Slot", "Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier")
_TYPED = frozenset({"RegistryPackage", "Association", "Classification", "ExternalIdentifier"})


def association_type_v3(value: str) -> str:
    """Short association type → its ebRS 3.0 URN; a value that already has a namespace is kept."""
    if ":" in value:
        return value
    if value in _IHE_2007_TYPES:
        return _IHE_2007_ASSOCIATION + value
    if value in _IHE_2010_TYPES:
        return _IHE_2010_ASSOCIATION + value
    return _EBXML_ASSOCIATION + value


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


class _Translator:
    def __init__(self) -> None:
        self.count = 1

    def new_id(self) -> str:
        value = f"id_{self.count}"
        self.count += 1
        return value

    def copy(self, src: etree._Element) -> etree._Element | None:
        name = _local(src)
        if name == "ObjectRef":
            return None
        dst = etree.Element(f"{{{NS.RIM}}}{name}")
        for key, value in src.attrib.items():
            attr = etree.QName(key).localname
            if attr == "status":
                value = value if ":" in value else STATUS_PREFIX + value
            elif attr == "associationType":
                value = association_type_v3(value)
            elif attr in ("minorVersion", "majorVersion"):
                continue
            elif attr == "lang":
                dst.set(f"{{{XML_NS}}}lang", value)
                continue
            dst.set(attr, value)
        if name in _TYPED:
            dst.set("objectType", OBJECT_TYPE + name)
        if name in ("Association", "Classification") and not dst.get("id"):
            dst.set("id", self.new_id())
        children = [c for c in src if isinstance(c.tag, str)]
        for wanted in _ORDER:
            for child in children:
                if _local(child) == wanted:
                    new = self.copy(child)
                    if new is None:
                        continue
                    if wanted == "ExternalIdentifier":
                        if not new.get("id"):
                            new.set("id", self.new_id())
                        new.set("registryObject", src.get("id", ""))
                    dst.append(new)
        for child in children:
            if _local(child) in _ORDER:
                continue
            new = self.copy(child)
            if new is not None:
                dst.append(new)
        if src.text and src.text.strip():
            dst.text = src.text
        return dst


def metadata_objects(root: etree._Element) -> list[etree._Element]:
    """The top-level registry objects of a request template, whatever its wrapper."""
    for el in root.iter():
        if isinstance(el.tag, str) and _local(el) in ("LeafRegistryObjectList", "RegistryObjectList"):
            return [c for c in el if isinstance(c.tag, str)]
    return []


def is_v21(root: etree._Element) -> bool:
    return any(isinstance(el.tag, str) and etree.QName(el).namespace in (RIM21, RS21) for el in root.iter())


def submit_objects_request(root: etree._Element) -> etree._Element:
    """A fresh ebRS 3.0 lcm:SubmitObjectsRequest with the template's objects (translated if 2.1)."""
    sor = etree.Element(f"{{{NS.LCM}}}SubmitObjectsRequest", nsmap={"lcm": NS.LCM, "rim": NS.RIM})
    rol = etree.SubElement(sor, f"{{{NS.RIM}}}RegistryObjectList")
    translator = _Translator()
    v21 = is_v21(root)
    for obj in metadata_objects(root):
        if v21:
            new = translator.copy(obj)
            if new is not None:
                rol.append(new)
        else:
            rol.append(copy.deepcopy(obj))
    return sor
