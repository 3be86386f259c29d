"""Read-only view of the ebRIM 3.0 objects in a request or a response (ITI TF-3 4.2.3).

Independent of the server's reader (`xdscore.ebrim`) on purpose: the kit grades any registry, ours
included, and a grader that shared our reader would share its bugs and pass what it should fail. So it
reads the raw elements itself, the way the NIST toolkit's `Metadata` class does.

The graders count and inspect what a registry returned: DocumentEntries (ExtrinsicObject), SubmissionSets
and Folders (RegistryPackage told apart by their classification node, ITI TF-3 4.2.3.3 / 4.2.3.4),
Associations and ObjectRefs, as the toolkit's `Metadata` class does.

`Metadata` reads responses namespace-strictly: only `rim:RegistryObjectList` (ebRIM 3.0) and its rim 3.0
children count, so objects returned in another namespace are not found and the graders fail the step.
`local` and `children` are namespace-agnostic helpers for test plans and request templates (ebRS 2.1 too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from xdscore.vocabulary import NS, UUID

_RIM = f"{{{NS.RIM}}}"


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


def children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and local(c) == name]


def strip_namespace(value: str | None) -> str | None:
    """`urn:...:StatusType:Approved` → `Approved` (the toolkit compares statuses this way)."""
    if value is None:
        return None
    return value.rsplit(":", 1)[-1]


@dataclass
class Metadata:
    objects: list[etree._Element] = field(default_factory=list)

    @classmethod
    def of(cls, root: etree._Element | None) -> Metadata:
        """The objects of the first rim:RegistryObjectList under `root` (a response body)."""
        if root is None:
            return cls()
        found = root if root.tag == f"{_RIM}RegistryObjectList" else root.find(f".//{_RIM}RegistryObjectList")
        if found is None:
            return cls()
        return cls([c for c in found if isinstance(c.tag, str)])

    def _kind(self, name: str) -> list[etree._Element]:
        return [o for o in self.objects if o.tag == _RIM + name]

    @property
    def extrinsic_objects(self) -> list[etree._Element]:
        return self._kind("ExtrinsicObject")

    @property
    def registry_packages(self) -> list[etree._Element]:
        return self._kind("RegistryPackage")

    @property
    def associations(self) -> list[etree._Element]:
        return self._kind("Association")

    @property
    def object_refs(self) -> list[etree._Element]:
        return self._kind("ObjectRef")

    def _package_node(self, package: etree._Element) -> str | None:
        pid = package.get("id")
        nodes = [c.get("classificationNode") for c in package.iterfind(f"{_RIM}Classification")]
        nodes += [
            c.get("classificationNode") for c in self._kind("Classification") if c.get("classifiedObject") == pid
        ]
        for node in nodes:
            if node in (UUID.SS_NODE, UUID.FOLDER_NODE):
                return node
        # No classification node returned: fall back on the uniqueId identification scheme.
        schemes = {e.get("identificationScheme") for e in package.iterfind(f"{_RIM}ExternalIdentifier")}
        if UUID.SS_UNIQUE_ID in schemes:
            return UUID.SS_NODE
        if UUID.FOLDER_UNIQUE_ID in schemes:
            return UUID.FOLDER_NODE
        return None

    @property
    def submission_sets(self) -> list[etree._Element]:
        return [p for p in self.registry_packages if self._package_node(p) == UUID.SS_NODE]

    @property
    def folders(self) -> list[etree._Element]:
        return [p for p in self.registry_packages if self._package_node(p) == UUID.FOLDER_NODE]

    @property
    def submission_set(self) -> etree._Element | None:
        sets = self.submission_sets
        return sets[0] if sets else None

    def extrinsic_object(self, object_id: str) -> etree._Element | None:
        for eo in self.extrinsic_objects:
            if eo.get("id") == object_id:
                return eo
        return None

    @staticmethod
    def slot_value(obj: etree._Element, name: str) -> str | None:
        for slot in obj.iterfind(f"{_RIM}Slot"):
            if slot.get("name") == name:
                for v in slot.iterfind(f"{_RIM}ValueList/{_RIM}Value"):
                    return (v.text or "").strip()
        return None

    @staticmethod
    def external_identifier(obj: etree._Element, scheme: str) -> str | None:
        for ei in obj.iterfind(f"{_RIM}ExternalIdentifier"):
            if ei.get("identificationScheme") == scheme:
                return ei.get("value")
        return None

    def document_by_unique_id(self, uid: str) -> etree._Element | None:
        for eo in self.extrinsic_objects:
            if self.external_identifier(eo, UUID.DE_UNIQUE_ID) == uid:
                return eo
        return None

    def label(self, object_id: str | None) -> str:
        """How the toolkit names an object in a message: its type and id."""
        for o in self.objects:
            if o.get("id") == object_id:
                return f"{local(o)}({object_id})"
        return f"({object_id})"
