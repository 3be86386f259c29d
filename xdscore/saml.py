"""SAML 2.0 assertion checks and reading (SAML 2.0 core §2; IHE XUA, ITI TF-2b 3.40.4.2).

`check_shape` runs before the signature is verified (Version, ID, Issuer first, signature placement);
`read_assertion` runs after, on the verified element only, and checks what an X-Service Provider must:
validity window (IssueInstant, Conditions NotBefore/NotOnOrAfter, SubjectConfirmationData, session)
with clock skew, AudienceRestriction when audiences are configured, Subject/NameID, exactly one
AuthnStatement, and attributes that appear once each by Name.

Text is read from text nodes only, never across comments: exclusive c14n drops comments, so
`admin<!---->.evil` is signed as "admin.evil" and must be read as "admin.evil" (the comment
truncation attack, CVE-2017-11427 and kin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from lxml import etree

from xdscore.vocabulary import NS
from xdscore.wsse_faults import SecurityFault, WsseFault

_SAML = f"{{{NS.SAML2}}}"
_DS = f"{{{NS.DS}}}"

SUBJECT_CONFIRMATION_METHODS = frozenset(
    {
        "urn:oasis:names:tc:SAML:2.0:cm:bearer",
        "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
        "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches",
    }
)
X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"

# xs:dateTime (XML Schema 1.0 2nd ed. §3.2.7). re.ASCII: `\d` must not match other scripts' digits.
_INSTANT = re.compile(r"(-?)(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", re.ASCII)
_INSTANT_FORM = "YYYY-MM-DDThh:mm:ss[.s+][Z|+hh:mm|-hh:mm]"
XML_SPACE = " \t\r\n"  # the XML white space characters (XML 1.0 §2.3 S): the only ones collapse removes
_MAX_OFFSET = timedelta(hours=14)  # XML Schema: time zone offsets are within -14:00..+14:00
# xs:ID is an NCName; refusing anything else also keeps "#id" references unambiguous.
_NCNAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def _token(reason: str) -> SecurityFault:
    return SecurityFault(WsseFault.INVALID_SECURITY_TOKEN, reason)


def shown(value: str, limit: int = 64) -> str:
    """A received value as quoted in a fault reason and the log: repr, cut to `limit` characters."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


def parse_instant(value: str, what: str) -> datetime:
    """xs:dateTime as SAML and WSS use it, returned in UTC; anything else is an InvalidSecurityToken fault.

    Accepted: 'Z' (SAML core §1.3.3), an offset within ±14:00, no zone (read as UTC), any number of
    fraction digits (cut to microseconds, never rounded up), surrounding XML white space (the
    `collapse` facet), `24:00:00` as the next day's midnight. Refused, each with its own reason: empty,
    non-ASCII digits, another layout, year 0000 / negative / above 9999, leap second 60, an offset
    beyond ±14:00, an instant that leaves 0001-9999 once moved to UTC.
    """
    text = value.strip(XML_SPACE)
    if not text:
        raise _token(f"{what} is empty; an xs:dateTime ({_INSTANT_FORM}) is required")
    if not text.isascii():
        raise _token(f"{what} {shown(value)} holds non-ASCII characters; xs:dateTime digits are 0-9")
    m = _INSTANT.fullmatch(text)
    if not m:
        raise _token(f"{what} {shown(value)} is not an xs:dateTime ({_INSTANT_FORM})")
    sign, year_text, month_text, day_text, hour_text, minute_text, second_text, fraction, zone = m.groups()
    if sign or len(year_text) > 4 or year_text == "0000":  # also keeps int() away from huge numerals
        raise _token(f"{what} {shown(value)}: the year is outside 0001-9999")
    hour, minute, second = int(hour_text), int(minute_text), int(second_text)
    end_of_day = hour == 24
    if end_of_day and (minute or second or (fraction or "").strip("0")):
        raise _token(f"{what} {shown(value)}: hour 24 is only allowed as 24:00:00 (the next day's midnight)")
    if hour > 24 or minute > 59:
        raise _token(f"{what} {shown(value)}: the time of day {hour_text}:{minute_text} does not exist")
    if second == 60:
        raise _token(f"{what} {shown(value)}: leap second 60 is not an xs:dateTime value; send :59 or the next minute")
    if second > 60:
        raise _token(f"{what} {shown(value)}: second {second_text} does not exist")
    offset = timedelta(0)
    if zone and zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        offset = (1 if zone[0] == "+" else -1) * timedelta(hours=hours, minutes=minutes)
        if minutes > 59 or abs(offset) > _MAX_OFFSET:
            raise _token(f"{what} {shown(value)}: time zone offset {zone} is outside -14:00..+14:00")
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(
            int(year_text), int(month_text), int(day_text), 0 if end_of_day else hour, minute, second, microsecond,
            tzinfo=timezone(offset),
        )
    except ValueError as exc:  # month 13, 30 February, ...
        raise _token(f"{what} {shown(value)} is not a valid date ({exc})") from None
    try:
        return (local + timedelta(days=1) if end_of_day else local).astimezone(UTC)
    except OverflowError:
        raise _token(f"{what} {shown(value)} is outside 0001-9999 once moved to UTC") from None


def own_text(el: etree._Element) -> str:
    """The element's own text nodes joined: `text` plus the tails of its children, so a comment in
    the middle neither cuts the value nor adds to it (exclusive c14n signs exactly this)."""
    return ((el.text or "") + "".join(c.tail or "" for c in el)).strip(XML_SPACE)


def simple_text(el: etree._Element, what: str) -> str:
    """The text of a simple-content element; child elements are refused, comments and PIs ignored."""
    if any(isinstance(c.tag, str) for c in el):
        raise _token(f"{what} must hold text only")
    return own_text(el)


def _elements(el: etree._Element, tag: str) -> list[etree._Element]:
    # iterchildren(tag) filters in C; the assertion always comes from the parser here (nodes made
    # in-process by xmlsec would not match by name, see xdscore.xmldsig).
    return list(el.iterchildren(tag))


@dataclass(frozen=True)
class AttributeValue:
    text: str  # text content (comments ignored); empty when the value is an element
    element: etree._Element | None  # the single child element (e.g. hl7:Role), if any


@dataclass(frozen=True)
class SamlAttribute:
    name: str
    values: tuple[AttributeValue, ...]


@dataclass(frozen=True)
class AssertionFacts:
    """What the checks read from the verified assertion."""

    assertion_id: str
    issuer: str
    issuer_format: str
    name_id: str
    sp_provided_id: str
    authn_context: str
    authn_instant: str
    attributes: dict[str, SamlAttribute]


def check_shape(assertion: etree._Element) -> str:
    """Structural checks done before signature verification; return the assertion's ID."""
    if assertion.get("Version") != "2.0":
        raise _token(f"saml2:Assertion Version is {assertion.get('Version')!r}, not 2.0")
    assertion_id = assertion.get("ID")
    if not assertion_id or not _NCNAME.match(assertion_id):
        raise _token(f"saml2:Assertion ID {shown(assertion_id or '')} is missing or not an xs:ID")
    if not assertion.get("IssueInstant"):
        raise _token("saml2:Assertion has no IssueInstant")
    children = [c for c in assertion if isinstance(c.tag, str)]
    if not children or children[0].tag != f"{_SAML}Issuer":
        raise _token("saml2:Assertion must start with saml2:Issuer")
    sig_positions = [i for i, c in enumerate(children) if c.tag == f"{_DS}Signature"]
    if sig_positions and sig_positions != [1]:
        raise SecurityFault(
            WsseFault.FAILED_CHECK, "ds:Signature must directly follow saml2:Issuer (SAML 2.0 core §2.3.3)"
        )
    return str(assertion_id)


class _Clock:
    def __init__(self, now: datetime, skew: timedelta) -> None:
        self.now = now
        self.skew = skew

    def not_before(self, value: str | None, what: str) -> None:
        if value is not None and self.now + self.skew < parse_instant(value, what):
            raise _token(f"the assertion is not yet valid: {what} is {shown(value)}")

    def not_on_or_after(self, value: str | None, what: str) -> None:
        if value is not None and self.now - self.skew >= parse_instant(value, what):
            raise _token(f"the assertion has expired: {what} was {shown(value)}")


def _check_conditions(assertion: etree._Element, clock: _Clock, audiences: frozenset[str]) -> None:
    conditions = _elements(assertion, f"{_SAML}Conditions")
    if len(conditions) > 1:
        raise _token("saml2:Assertion has more than one saml2:Conditions")
    if not conditions:
        return
    cond = conditions[0]
    nb, noa = cond.get("NotBefore"), cond.get("NotOnOrAfter")
    if nb and noa and parse_instant(nb, "Conditions/@NotBefore") >= parse_instant(noa, "Conditions/@NotOnOrAfter"):
        raise _token(f"Conditions NotBefore {shown(nb)} is not before NotOnOrAfter {shown(noa)}")
    clock.not_before(nb, "Conditions/@NotBefore")
    clock.not_on_or_after(noa, "Conditions/@NotOnOrAfter")
    for child in cond:
        if not isinstance(child.tag, str):
            continue
        if child.tag == f"{_SAML}AudienceRestriction":
            listed = [simple_text(a, "saml2:Audience") for a in _elements(child, f"{_SAML}Audience")]
            # SAML core §2.5.1.4: the relying party must be named in every AudienceRestriction.
            if audiences and not audiences.intersection(listed):
                raise SecurityFault(
                    WsseFault.FAILED_AUTHENTICATION,
                    f"the assertion is restricted to audience {listed}, which does not include this service "
                    f"({sorted(audiences)})",
                )
        elif child.tag not in (f"{_SAML}OneTimeUse", f"{_SAML}ProxyRestriction"):
            raise _token(f"unsupported condition {child.tag} (SAML core §2.5.1: not understood means invalid)")


def _read_subject(assertion: etree._Element, clock: _Clock) -> tuple[str, str]:
    subjects = _elements(assertion, f"{_SAML}Subject")
    if len(subjects) != 1:
        raise _token(f"saml2:Assertion must have exactly one saml2:Subject, found {len(subjects)}")
    subject = subjects[0]
    if _elements(subject, f"{_SAML}EncryptedID") or _elements(subject, f"{_SAML}BaseID"):
        raise SecurityFault(WsseFault.UNSUPPORTED_SECURITY_TOKEN, "only a plain saml2:NameID subject is supported")
    name_ids = _elements(subject, f"{_SAML}NameID")
    if len(name_ids) != 1:
        raise _token(f"saml2:Subject must have exactly one saml2:NameID, found {len(name_ids)}")
    name_id = simple_text(name_ids[0], "saml2:NameID")
    if not name_id:
        raise _token("saml2:NameID is empty")
    for conf in _elements(subject, f"{_SAML}SubjectConfirmation"):
        method = conf.get("Method", "")
        if method not in SUBJECT_CONFIRMATION_METHODS:
            raise _token(f"SubjectConfirmation Method {method!r} is not bearer, holder-of-key or sender-vouches")
        for data in _elements(conf, f"{_SAML}SubjectConfirmationData"):
            clock.not_before(data.get("NotBefore"), "SubjectConfirmationData/@NotBefore")
            clock.not_on_or_after(data.get("NotOnOrAfter"), "SubjectConfirmationData/@NotOnOrAfter")
    return name_id, name_ids[0].get("SPProvidedID", "")


def _read_authn(assertion: etree._Element, clock: _Clock) -> tuple[str, str]:
    statements = _elements(assertion, f"{_SAML}AuthnStatement")
    if len(statements) != 1:
        raise _token(f"the assertion must carry exactly one saml2:AuthnStatement, found {len(statements)}")
    st = statements[0]
    instant = st.get("AuthnInstant")
    if not instant:
        raise _token("saml2:AuthnStatement has no AuthnInstant")
    if parse_instant(instant, "AuthnInstant") > clock.now + clock.skew:
        raise _token(f"saml2:AuthnStatement AuthnInstant {shown(instant)} is in the future")
    clock.not_on_or_after(st.get("SessionNotOnOrAfter"), "AuthnStatement/@SessionNotOnOrAfter")
    contexts = _elements(st, f"{_SAML}AuthnContext")
    if len(contexts) != 1:
        raise _token(f"saml2:AuthnStatement must have exactly one saml2:AuthnContext, found {len(contexts)}")
    class_refs = _elements(contexts[0], f"{_SAML}AuthnContextClassRef")
    decls = _elements(contexts[0], f"{_SAML}AuthnContextDecl") + _elements(contexts[0], f"{_SAML}AuthnContextDeclRef")
    if len(class_refs) > 1:
        raise _token(f"saml2:AuthnContext has {len(class_refs)} AuthnContextClassRef; at most one is allowed")
    if not class_refs and not decls:
        raise _token("saml2:AuthnContext names no authentication context")
    class_ref = simple_text(class_refs[0], "saml2:AuthnContextClassRef") if class_refs else ""
    return class_ref, instant.strip(XML_SPACE)


def read_attributes(assertion: etree._Element) -> dict[str, SamlAttribute]:
    counts: dict[str, int] = {}
    found: dict[str, SamlAttribute] = {}
    for statement in _elements(assertion, f"{_SAML}AttributeStatement"):
        if _elements(statement, f"{_SAML}EncryptedAttribute"):
            raise SecurityFault(WsseFault.UNSUPPORTED_SECURITY_TOKEN, "encrypted attributes are not supported")
        for attr in _elements(statement, f"{_SAML}Attribute"):
            name = attr.get("Name", "")
            if not name:
                raise _token("a saml2:Attribute has no Name")
            counts[name] = counts.get(name, 0) + 1
            values = []
            for v in _elements(attr, f"{_SAML}AttributeValue"):
                elements = [c for c in v if isinstance(c.tag, str)]
                if len(elements) > 1:
                    raise _token(f"an AttributeValue of {name} holds {len(elements)} elements; one is allowed")
                text = "" if elements else own_text(v)
                values.append(AttributeValue(text=text, element=elements[0] if elements else None))
            found[name] = SamlAttribute(name=name, values=tuple(values))
    repeated = sorted(n for n, c in counts.items() if c > 1)
    if repeated:
        raise _token(f"attribute {repeated[0]} appears {counts[repeated[0]]} times; each attribute must appear once")
    return found


def read_assertion(
    assertion: etree._Element,
    now: datetime,
    skew: timedelta,
    audiences: frozenset[str] = frozenset(),
    max_age: timedelta | None = None,
) -> AssertionFacts:
    """Check and read a verified assertion; raise a SecurityFault on the first problem."""
    clock = _Clock(now, skew)
    issued = assertion.get("IssueInstant", "")
    issue_instant = parse_instant(issued, "IssueInstant")
    if issue_instant > now + skew:
        raise _token(f"the assertion is not yet valid: IssueInstant {shown(issued)} is in the future")
    if max_age is not None and now - skew - max_age > issue_instant:
        raise _token(f"the assertion has expired: issued at {shown(issued)}, older than {max_age}")
    _check_conditions(assertion, clock, audiences)
    issuer_el = _elements(assertion, f"{_SAML}Issuer")[0]
    issuer = simple_text(issuer_el, "saml2:Issuer")
    if not issuer:
        raise _token("saml2:Issuer is empty")
    name_id, sp_provided_id = _read_subject(assertion, clock)
    authn_context, authn_instant = _read_authn(assertion, clock)
    return AssertionFacts(
        assertion_id=assertion.get("ID", ""),
        issuer=issuer,
        issuer_format=issuer_el.get("Format", ""),
        name_id=name_id,
        sp_provided_id=sp_provided_id,
        authn_context=authn_context,
        authn_instant=authn_instant,
        attributes=read_attributes(assertion),
    )


_DN_ALIASES = {
    "S": "ST",
    "E": "EMAILADDRESS",
    "1.2.840.113549.1.9.1": "EMAILADDRESS",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
}


def _split_dn(dn: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in dn:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch in ",;+":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def dn_key(dn: str) -> list[tuple[str, str]] | None:
    """An order-insensitive form of a distinguished name written RFC 4514 or Windows style; None if unparsable."""
    pairs = []
    for part in _split_dn(dn):
        if "=" not in part:
            return None
        attr, value = part.split("=", 1)
        attr = attr.strip().upper()
        attr = _DN_ALIASES.get(attr, attr)
        value = re.sub(r"\\(.)", r"\1", value.strip()).strip('"')
        pairs.append((attr, value))
    return sorted(pairs)
