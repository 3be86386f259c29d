"""xdsb:ProvideAndRegisterDocumentSetRequest (ITI TF-2b 3.41.4.1.2; IHEXDSB.xsd): the SubmitObjectsRequest
it carries, read with `submit_objects.read` like an ITI-42 request, and its Document elements.

The Document Repository patches three slots of each DocumentEntry in the received tree (`rim.set_slot`)
and forwards that SubmitObjectsRequest as it came (ITI TF-2b 3.41.4.1.3.2), so every slot, classification
and extra attribute the source sent reaches the registry untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xdscore.ebrim import submit_objects
from xdscore.errors import FaultCode, SoapFault
from xdscore.model import Submission
from xdscore.vocabulary import NS

XDSB = f"{{{NS.XDSB}}}"
RIM = f"{{{NS.RIM}}}"
PROVIDE_AND_REGISTER_REQUEST = f"{XDSB}ProvideAndRegisterDocumentSetRequest"
DOCUMENT = f"{XDSB}Document"


@dataclass(frozen=True)
class ProvideRequest:
    submit_objects: etree._Element  # the lcm:SubmitObjectsRequest, patched in place and forwarded
    submission: Submission  # what it says, typed
    documents: list[etree._Element]  # the xdsb:Document elements

    def entry_elements(self) -> dict[str, etree._Element]:
        """Each DocumentEntry's rim:ExtrinsicObject in the received tree, by id (the first of a repeated id)."""
        found: dict[str, etree._Element] = {}
        for el in self.submit_objects.iterfind(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject"):
            found.setdefault(el.get("id") or "", el)
        return found


def submit_objects_element(body: etree._Element) -> etree._Element:
    """The lcm:SubmitObjectsRequest of a ProvideAndRegisterDocumentSetRequest; SoapFault for another body."""
    if body.tag != PROVIDE_AND_REGISTER_REQUEST:
        raise SoapFault(FaultCode.SENDER, f"the SOAP Body holds {body.tag}, not xdsb:ProvideAndRegisterDocumentSetRequest")
    sor = body.find(submit_objects.SUBMIT_OBJECTS_REQUEST)
    if sor is None:
        raise SoapFault(FaultCode.SENDER, "ProvideAndRegisterDocumentSetRequest has no lcm:SubmitObjectsRequest")
    return sor


def read(body: etree._Element) -> ProvideRequest:
    sor = submit_objects_element(body)
    return ProvideRequest(sor, submit_objects.read(sor), body.findall(DOCUMENT))
