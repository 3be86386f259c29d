"""Fuzz invariant for the security layer: any change to a valid wsse:Security header gives either a
Principal or a SecurityFault (a SOAP Sender fault), never another exception (which would be a 500)."""

from __future__ import annotations

import copy
import datetime as dt

from lxml import etree

from xdscore import soap, wssec, xmlsafe
from xdscore.wsse_faults import SecurityFault
from xuatool import variants
from xuatool.header import request
from xuatool.pki import TestPki

GARBAGE = ["", " ", "x", "-1", "9999-99-99T99:99:99Z", "2024-01-01T00:00:00+99:00", "#", "&#0;"[:1], "é" * 300]


def _mutants(security: etree._Element) -> list[etree._Element]:
    out = []
    nodes = [el for el in security.iter() if isinstance(el.tag, str)]
    for index in range(1, len(nodes)):
        drop = copy.deepcopy(security)
        victim = [el for el in drop.iter() if isinstance(el.tag, str)][index]
        victim.getparent().remove(victim)
        out.append(drop)
    for index, node in enumerate(nodes):
        for name in node.attrib:
            for value in GARBAGE[:4]:
                m = copy.deepcopy(security)
                [el for el in m.iter() if isinstance(el.tag, str)][index].set(name, value)
                out.append(m)
        if node.text and node.text.strip():
            for value in GARBAGE:
                m = copy.deepcopy(security)
                [el for el in m.iter() if isinstance(el.tag, str)][index].text = value
                out.append(m)
    return out


def test_every_mutant_gives_a_principal_or_a_security_fault(pki: TestPki) -> None:
    now = dt.datetime.now(dt.UTC)
    security = variants.make("valid", variants.VariantContext(pki=pki, now=now, audience="urn:a"))
    policy = wssec.Policy(trust_anchors=pki.trust_anchors, now=now, profile=wssec.Profile.VIHF, audiences=frozenset({"urn:a"}))
    outcomes = {"accepted": 0, "refused": 0}
    for mutant in _mutants(security):
        header = soap.read_envelope(xmlsafe.parse_bytes(request(etree.Element("{urn:x}E"), "urn:x:a", mutant))).header
        try:
            wssec.verify(header, policy)
            outcomes["accepted"] += 1
        except SecurityFault:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 300, outcomes
