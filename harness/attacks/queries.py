"""SQL metacharacters and LIKE patterns in every stored-query parameter (ITI TF-2a 3.18.4.1.2.3.7: only
the parameters the TF names as LIKE take % and _ as wildcards; every value is data, never SQL).

For each stored query of `xdscore.queries.SPECS` and each of its parameters, the parameter is given a
hostile value, once quoted as a client would quote it and once raw in the Value text; the other required
parameters name the attack patient (who has nothing) or an unknown UUID. Another patient's documents (the
bait, registered before) are in the registry: a wildcard or an injection reaching the SQL would return them.
The right answer is an AdhocQueryResponse holding no object at all (Success, or Failure with an error code),
never a fault, never a 500.
"""

from __future__ import annotations

import uuid
from functools import partial

from lxml import etree

from harness.attacks import Answer, Attack, Targets, attack, post
from xdscore import soap
from xdscore.queries import SPECS, Kind, Param, QuerySpec, ReturnType, quote
from xdscore.vocabulary import NS, Action, Status

QUOTED = ["%", "_", "%%%", "' OR '1'='1", "x'); DROP TABLE document_entry; --", "\\", "%' OR 1=1 --", "a\\%b"]
RAW = ["' OR '1'='1' --", "('%') OR ('1'='1')", "1 OR 1=1", "('%','_')", "'); DELETE FROM patient; --"]
OBJECTS = ("ExtrinsicObject", "RegistryPackage", "Association", "ObjectRef", "Classification")


def _sane(param: Param, patient: str) -> str:
    """A value that names nothing of the bait: the attack patient, an unknown UUID, an ordinary status."""
    if param.kind is Kind.STRING:
        value = quote(patient if param.name.endswith(("PatientId", "patientId")) else f"urn:uuid:{uuid.uuid4()}")
    elif param.kind is Kind.STATUS:
        value = quote(Status.APPROVED.value)
    elif param.kind is Kind.ASSOCIATION_TYPE:
        value = quote("urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember")
    else:
        raise ValueError(f"no ordinary value for {param.name}")
    return f"({value})" if param.multiple else value


def request(spec: QuerySpec, attacked: str, text: str, patient: str) -> bytes:
    """The query with `attacked` given the Value text `text` and the required parameters set."""
    needed = [n for n in spec.required if n != attacked]
    if spec.one_of and attacked not in spec.one_of:
        needed.append(spec.one_of[0])
    req = etree.Element(f"{{{NS.QUERY}}}AdhocQueryRequest", nsmap={"query": NS.QUERY, "rim": NS.RIM})
    etree.SubElement(req, f"{{{NS.QUERY}}}ResponseOption", returnComposedObjects="true",
                     returnType=ReturnType.LEAF_CLASS.value)
    adhoc = etree.SubElement(req, f"{{{NS.RIM}}}AdhocQuery", id=spec.query.value)
    values = {name: _sane(p, patient) for name in needed if (p := spec.param(name)) is not None} | {attacked: text}
    for name, value in values.items():
        slot = etree.SubElement(adhoc, f"{{{NS.RIM}}}Slot", name=name)
        etree.SubElement(etree.SubElement(slot, f"{{{NS.RIM}}}ValueList"), f"{{{NS.RIM}}}Value").text = value
    env = soap.request_envelope(req, Action.STORED_QUERY.value)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def _send(spec: QuerySpec, attacked: str, text: str, t: Targets) -> Answer:
    answer = post(t, t.registry_url, request(spec, attacked, text, t.patient))
    found = [tag for tag in OBJECTS if f"{tag} ".encode() in answer.raw or f"{tag}>".encode() in answer.raw]
    if found:
        answer.note = f"objects in the answer: {found}"
    return answer


def _nothing_found(a: Answer) -> bool:
    return (a.http == 200 and a.fault is None and a.status in ("Success", "Failure", "PartialSuccess")
            and not a.note.startswith("objects"))


def corpus() -> list[Attack]:
    attacks = []
    for spec in SPECS.values():
        for param in spec.params:
            texts = [f"({quote(v)})" if param.multiple else quote(v) for v in QUOTED] + RAW
            for text in texts:
                attacks.append(attack(f"{spec.query.name} {param.name}={text}", partial(_send, spec, param.name, text),
                                      (_nothing_found, "an AdhocQueryResponse with no object, no fault")))
    return attacks
