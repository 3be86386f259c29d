"""Fuzz invariant for the security layer: whatever is changed in a valid wsse:Security header, the
verifier gives either a Principal or a SecurityFault (a SOAP Sender fault with a wsse subcode), never
another exception (which the service would answer as a 500 Receiver fault).

Deterministic, so CI runs the same few hundred cases in a couple of seconds:
1. `TIME_SHAPES`, an explicit corpus of malformed xs:dateTime values, put in every time-bearing place
   (wsu:Created/Expires, IssueInstant, Conditions and SubjectConfirmationData NotBefore/NotOnOrAfter,
   AuthnInstant, SessionNotOnOrAfter): each must be refused with that place's subcode and a reason that
   names the place. Assertion places are changed BEFORE signing, so the value reaches the parser (a
   change after signing stops at the signature check). The same instants written in other legal
   forms must be accepted.
2. Every element dropped, garbage in every attribute and text of the signed header.
3. Seeded random mutants (a fixed seed): one to three random edits, half of them made before signing.
   To explore further locally: `XDS_FUZZ_SEEDS=1-2000 XDS_FUZZ_CASES=300 pytest tests/security/test_fuzz_invariant.py`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from lxml import etree

from xdscore import soap, wssec, xmlsafe
from xdscore.principal import Principal
from xdscore.vocabulary import NS
from xdscore.wsse_faults import SecurityFault, WsseFault
from xuatool import variants
from xuatool.assertion import build_assertion, sign_assertion
from xuatool.header import request, security_header
from xuatool.pki import TestPki

AUDIENCE = "urn:a"
DEFAULT_SEED = 20261123
DEFAULT_CASES = 150
_S = f"{{{NS.SAML2}}}"
_WSU = f"{{{NS.WSU}}}"

# Malformed xs:dateTime values, one or more per shape; each must be a fault wherever it is put.
TIME_SHAPES: dict[str, list[str]] = {
    "huge offset": ["2026-01-01T00:00:00+25:00", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00-99:99",
                    "2026-01-01T00:00:00+14:30", "2026-01-01T00:00:00+01:60"],
    "offset leaves the range": ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"],
    "year 0": ["0000-01-01T00:00:00Z"],
    "year 99999": ["99999-01-01T00:00:00Z", "1" * 5000 + "-01-01T00:00:00Z"],
    "negative year": ["-2026-01-01T00:00:00Z"],
    "missing T": ["2026-01-01 00:00:00Z", "2026-01-0100:00:00Z", "2026-01-01"],
    "leap second": ["2016-12-31T23:59:60Z"],
    "impossible date or time": ["2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T25:00:00Z",
                                "2026-01-01T24:00:01Z", "2026-01-01T00:00:61Z"],
    "non-ASCII digits": ["٢٠٢٦-٠١-٠١T00:00:00Z", "２０２６-01-01T00:00:00Z", "2026-01-01T00:00:00.१Z"],
    "empty": [""],
    "whitespace": [" \t\n ", "2026-01-01T00: 00:00Z", "\u00a02026-01-01T00:00:00Z"],
    "other garbage": ["yesterday", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00z", "+2026-01-01T00:00:00Z"],
}


def _equivalents(instant: dt.datetime) -> list[str]:
    """Other legal spellings of the same instant: all must be accepted."""
    utc = instant.astimezone(dt.UTC)
    base = utc.strftime("%Y-%m-%dT%H:%M:%S")
    plus14 = utc.astimezone(dt.timezone(dt.timedelta(hours=14))).strftime("%Y-%m-%dT%H:%M:%S+14:00")
    minus14 = utc.astimezone(dt.timezone(dt.timedelta(hours=-14))).strftime("%Y-%m-%dT%H:%M:%S-14:00")
    return [
        f"{base}.{utc.microsecond:06d}123456Z",  # 12 fraction digits
        plus14, minus14,
        base,  # no zone: UTC
        f" \n\t{base}Z \n",  # surrounding XML white space (collapse)
    ]


@dataclass(frozen=True)
class Place:
    name: str  # as the fault reason must name it
    kind: WsseFault
    signed: bool  # inside the signed assertion (changed before signing)
    element: Callable[[etree._Element], etree._Element]  # from wsse:Security or the assertion
    attribute: str | None  # None: the element's text


def _child(*path: str) -> Callable[[etree._Element], etree._Element]:
    def find(root: etree._Element) -> etree._Element:
        found = root.find("/".join(path)) if path else root
        assert found is not None, path
        return found

    return find


PLACES = [
    Place("wsu:Created", WsseFault.INVALID_SECURITY, False, _child(f"{_WSU}Timestamp", f"{_WSU}Created"), None),
    Place("wsu:Expires", WsseFault.INVALID_SECURITY, False, _child(f"{_WSU}Timestamp", f"{_WSU}Expires"), None),
    Place("IssueInstant", WsseFault.INVALID_SECURITY_TOKEN, True, _child(), "IssueInstant"),
    Place("Conditions/@NotBefore", WsseFault.INVALID_SECURITY_TOKEN, True, _child(f"{_S}Conditions"), "NotBefore"),
    Place("Conditions/@NotOnOrAfter", WsseFault.INVALID_SECURITY_TOKEN, True, _child(f"{_S}Conditions"), "NotOnOrAfter"),
    Place("SubjectConfirmationData/@NotBefore", WsseFault.INVALID_SECURITY_TOKEN, True,
          _child(f"{_S}Subject", f"{_S}SubjectConfirmation", f"{_S}SubjectConfirmationData"), "NotBefore"),
    Place("SubjectConfirmationData/@NotOnOrAfter", WsseFault.INVALID_SECURITY_TOKEN, True,
          _child(f"{_S}Subject", f"{_S}SubjectConfirmation", f"{_S}SubjectConfirmationData"), "NotOnOrAfter"),
    Place("AuthnInstant", WsseFault.INVALID_SECURITY_TOKEN, True, _child(f"{_S}AuthnStatement"), "AuthnInstant"),
    Place("AuthnStatement/@SessionNotOnOrAfter", WsseFault.INVALID_SECURITY_TOKEN, True,
          _child(f"{_S}AuthnStatement"), "SessionNotOnOrAfter"),
]


class Kit:
    """A valid VIHF assertion with every optional time attribute present, and the policy that accepts it."""

    def __init__(self, pki: TestPki) -> None:
        self.pki = pki
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=250000)
        self.ctx = variants.VariantContext(pki=pki, now=self.now, audience=AUDIENCE)
        self.policy = wssec.Policy(
            trust_anchors=pki.trust_anchors, now=self.now, profile=wssec.Profile.VIHF, audiences=frozenset({AUDIENCE})
        )
        self.unsigned = build_assertion(self.ctx.spec(), pki.seal, self.now)
        confirmation = self.unsigned.find(f"{_S}Subject/{_S}SubjectConfirmation")
        assert confirmation is not None
        etree.SubElement(confirmation, f"{_S}SubjectConfirmationData",
                         NotBefore=self._text(self.now - dt.timedelta(minutes=1)),
                         NotOnOrAfter=self._text(self.now + dt.timedelta(minutes=30)))
        authn = self.unsigned.find(f"{_S}AuthnStatement")
        assert authn is not None
        authn.set("SessionNotOnOrAfter", self._text(self.now + dt.timedelta(hours=2)))

    @staticmethod
    def _text(t: dt.datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def security(self, assertion: etree._Element | None = None, edit: Callable[[etree._Element], None] | None = None,
                 ) -> etree._Element:
        """Sign (a copy of) `assertion` after `edit`, wrap it with a Timestamp."""
        unsigned = copy.deepcopy(self.unsigned if assertion is None else assertion)
        if edit is not None:
            edit(unsigned)
        signed = sign_assertion(unsigned, self.pki.seal)
        return security_header(signed, (self.now - dt.timedelta(seconds=5), self.now + dt.timedelta(minutes=5)))

    def verify(self, security: etree._Element) -> Principal | None:
        """The service's path: serialize, parse safely, read the envelope, verify."""
        data = request(etree.Element("{urn:x}E"), "urn:x:a", security)
        return wssec.verify(soap.read_envelope(xmlsafe.parse_bytes(data)).header, self.policy)


@pytest.fixture(scope="module")
def kit(pki: TestPki) -> Kit:
    return Kit(pki)


def _with_value(kit: Kit, place: Place, value: str) -> etree._Element:
    def put(root: etree._Element) -> None:
        el = place.element(root)
        if place.attribute is None:
            el.text = value
        else:
            el.set(place.attribute, value)

    if place.signed:
        return kit.security(edit=put)
    security = kit.security()
    put(security)
    return security


def _original(kit: Kit, place: Place) -> dt.datetime:
    root = kit.security() if not place.signed else kit.unsigned
    el = place.element(root)
    text = el.text if place.attribute is None else el.get(place.attribute)
    assert text
    return dt.datetime.fromisoformat(text)


def test_the_untouched_kit_is_accepted(kit: Kit) -> None:
    principal = kit.verify(kit.security())
    assert principal is not None and principal.name_id == "899700000001"


@pytest.mark.parametrize("place", PLACES, ids=[p.name for p in PLACES])
def test_malformed_instants_are_faults_naming_the_place(kit: Kit, place: Place) -> None:
    for shape, values in TIME_SHAPES.items():
        for value in values:
            with pytest.raises(SecurityFault) as info:
                kit.verify(_with_value(kit, place, value))
            fault = info.value
            assert fault.subcode == (NS.WSSE, place.kind.value), (shape, value, fault.reason)
            assert place.name in fault.reason, (shape, value, fault.reason)
            assert len(fault.reason) < 400, fault.reason  # a 5000-digit year is not echoed whole


@pytest.mark.parametrize("place", PLACES, ids=[p.name for p in PLACES])
def test_other_spellings_of_the_same_instant_are_accepted(kit: Kit, place: Place) -> None:
    for value in _equivalents(_original(kit, place)):
        assert kit.verify(_with_value(kit, place, value)) is not None, value


# --- 2. the signed header, every element dropped, garbage everywhere ---

GARBAGE = ["", " ", "x", "-1", "9999-99-99T99:99:99Z", "2024-01-01T00:00:00+99:00", "#", "&", "é" * 300]


def _nodes(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def _structural_mutants(security: etree._Element) -> Iterator[etree._Element]:
    count = len(_nodes(security))
    for index in range(1, count):
        m = copy.deepcopy(security)
        victim = _nodes(m)[index]
        victim.getparent().remove(victim)
        yield m
    for index, node in enumerate(_nodes(security)):
        for name in node.attrib:
            for value in GARBAGE[:4]:
                m = copy.deepcopy(security)
                _nodes(m)[index].set(name, value)
                yield m
        if node.text and node.text.strip():
            for value in GARBAGE:
                m = copy.deepcopy(security)
                _nodes(m)[index].text = value
                yield m


def _outcome(kit: Kit, security: etree._Element) -> str:
    """'accepted' or the fault subcode; any other exception fails the test (with the message)."""
    try:
        kit.verify(security)
    except SecurityFault as fault:
        assert fault.subcode is not None and fault.subcode[0] == NS.WSSE and fault.reason, fault
        return fault.subcode[1]
    except Exception as exc:  # noqa: BLE001 - the invariant under test
        pytest.fail(f"{type(exc).__name__}: {exc}\n{etree.tostring(security, encoding='unicode')[:4000]}")
    return "accepted"


def test_every_structural_mutant_gives_a_principal_or_a_security_fault(kit: Kit) -> None:
    outcomes: dict[str, int] = {}
    for mutant in _structural_mutants(kit.security()):
        result = _outcome(kit, mutant)
        outcomes[result] = outcomes.get(result, 0) + 1
    assert sum(n for k, n in outcomes.items() if k != "accepted") > 300, outcomes
    assert {"FailedCheck", "InvalidSecurityToken", "InvalidSecurity"} <= set(outcomes), outcomes


# --- 3. seeded random mutants ---

POOL = [v for values in TIME_SHAPES.values() for v in values] + GARBAGE + [
    "2.0", "1.1", "_a", "#_a", "urn:oasis:names:tc:SAML:2.0:cm:bearer", "http://www.w3.org/2000/09/xmldsig#sha1",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments", "http://www.w3.org/TR/1999/REC-xpath-19991116",
    "AAAA", "-----BEGIN CERTIFICATE-----", "0", "1", "true", "x" * 5000, "\u202e", "\U0001f600",
]


def _edit(rng: random.Random, root: etree._Element) -> None:
    nodes = _nodes(root)
    node = rng.choice(nodes)
    op = rng.randrange(9)
    if op == 0 and node.attrib:
        node.set(rng.choice(list(node.attrib)), rng.choice(POOL))
    elif op == 1:
        node.text = rng.choice(POOL)
    elif op == 2 and node is not root and node.getparent() is not None:
        node.getparent().remove(node)
    elif op == 3 and node is not root and node.getparent() is not None:
        node.addnext(copy.deepcopy(node))  # a duplicate sibling
    elif op == 4 and node is not root:
        target = rng.choice([n for n in nodes if n is not node and node not in n.iterancestors()])
        target.append(node)  # moved elsewhere (never into itself)
    elif op == 5:
        comment = etree.Comment("x")
        comment.tail = rng.choice(POOL)
        node.insert(rng.randrange(len(node) + 1), comment)
    elif op == 6:
        node.insert(rng.randrange(len(node) + 1), etree.Element(rng.choice(
            [f"{_S}Assertion", f"{_S}Conditions", f"{_S}AttributeStatement", "{http://www.w3.org/2000/09/xmldsig#}Signature",
             f"{_WSU}Timestamp", "{urn:x}Unknown", f"{_S}Advice"])))
    elif op == 7 and node.attrib:
        del node.attrib[rng.choice(list(node.attrib))]
    else:
        node.set(rng.choice(["ID", "Id", f"{_WSU}Id", "{http://www.w3.org/XML/1998/namespace}id", "AssertionID",
                             "NotBefore", "NotOnOrAfter", "Method"]), rng.choice(POOL))


def _random_mutant(kit: Kit, rng: random.Random) -> etree._Element:
    edits = rng.randint(1, 3)
    if rng.random() < 0.5:  # before signing: the content checks are reached

        def edit(a: etree._Element) -> None:
            for _ in range(edits):
                _edit(rng, a)

        with contextlib.suppress(Exception):  # xmlsec cannot sign this mutant (no ID left...): edit after signing
            return kit.security(edit=edit)
    security = kit.security()
    for _ in range(edits):
        _edit(rng, security)
    return security


def _seeds() -> list[int]:
    spec = os.environ.get("XDS_FUZZ_SEEDS", "")
    if not spec:
        return [DEFAULT_SEED]
    seeds: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


@pytest.mark.parametrize("seed", _seeds())
def test_random_mutants_give_a_principal_or_a_security_fault(kit: Kit, seed: int) -> None:
    rng = random.Random(seed)
    cases = int(os.environ.get("XDS_FUZZ_CASES", DEFAULT_CASES))
    outcomes: dict[str, int] = {}
    for _ in range(cases):
        result = _outcome(kit, _random_mutant(kit, rng))
        outcomes[result] = outcomes.get(result, 0) + 1
    assert len(outcomes) >= 3 or cases < 50, outcomes
