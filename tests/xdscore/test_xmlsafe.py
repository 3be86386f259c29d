"""xdscore.xmlsafe: each shape limit accepts what is at the limit and refuses one more with a Sender
fault naming it; a body whose "<" count already exceeds the element limit is refused before parsing."""

from __future__ import annotations

import pytest

from xdscore import xmlsafe
from xdscore.errors import FaultCode, SoapFault
from xdscore.xmlsafe import XmlLimits


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def flat(elements: int) -> bytes:
    return b"<r>" + b"<e/>" * (elements - 1) + b"</r>"


# (limits, document at the limit, one step over, words of the fault)
CASES = [
    (XmlLimits(max_depth=5), nested(5), nested(6), "nested more than 5 deep"),
    (XmlLimits(max_elements=100), flat(100), flat(101), "more than 100 elements"),
    (XmlLimits(max_attribute_chars=10), b'<r a="0123456789"/>', b'<r a="0123456789x"/>', "attribute value longer than 10"),
    (XmlLimits(max_attribute_chars=10), b'<r><e b="\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"/></r>',
     b'<r><e b="\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"/></r>',
     "attribute value longer than 10"),  # characters, not bytes
    (XmlLimits(max_text_chars=10), b"<r><e>0123456789</e></r>", b"<r><e>0123456789x</e></r>", "text longer than 10"),
    (XmlLimits(max_text_chars=10), b"<r>0123456789<e/></r>", b"<r><e/>0123456789x</r>", "text longer than 10"),  # tails too
    (XmlLimits(max_bytes=20), b"<r>" + b"x" * 13 + b"</r>", b"<r>" + b"x" * 14 + b"</r>", "larger than the limit of 20 bytes"),
]


@pytest.mark.parametrize("limits,at_limit,over,words", CASES)
def test_limit_is_exact(limits: XmlLimits, at_limit: bytes, over: bytes, words: str) -> None:
    xmlsafe.parse_bytes(at_limit, limits=limits)
    with pytest.raises(SoapFault, match=words) as info:
        xmlsafe.parse_bytes(over, limits=limits)
    assert info.value.code is FaultCode.SENDER


def test_element_count_is_bounded_before_parsing() -> None:
    """50 MB of empty elements is refused by counting "<" (memory speed), not by building the tree."""
    body = b"<r>" + b"<e/>" * 12_000_000 + b"</r>"
    with pytest.raises(SoapFault, match="more than 1000 elements"):
        xmlsafe.parse_bytes(body, limits=XmlLimits(max_bytes=len(body), max_elements=1000))


def test_the_pre_check_allows_an_end_tag_per_element() -> None:
    """An element with an end tag has two "<": 100 of them pass the pre-check, the exact count decides."""
    xmlsafe.parse_bytes(b"<r>" + b"<e>x</e>" * 99 + b"</r>", limits=XmlLimits(max_elements=100))
    with pytest.raises(SoapFault, match="more than 100 elements"):
        xmlsafe.parse_bytes(b"<r>" + b"<e>x</e>" * 100 + b"</r>", limits=XmlLimits(max_elements=100))


def test_default_parse_keeps_its_depth_of_256() -> None:
    xmlsafe.parse_bytes(nested(256))
    with pytest.raises(SoapFault, match="nested more than 256 deep"):
        xmlsafe.parse_bytes(nested(257))


def test_nesting_past_libxml2s_own_stop_names_the_limit() -> None:
    """100,000 levels: libxml2 gives up at 2048 by itself; the fault still names the service's limit."""
    with pytest.raises(SoapFault, match="nested more than 64 deep, over this service's limit"):
        xmlsafe.parse_bytes(nested(100_000), limits=XmlLimits(max_bytes=10**7, max_depth=64))


def test_settings_zero_means_no_limit() -> None:
    limits = XmlLimits.of(1000, 0, 0, 0, 0)
    assert limits == XmlLimits(1000, None, None, None, None)
    xmlsafe.parse_bytes(nested(300), limits=XmlLimits.of(10_000, 0, 0, 0, 0))


def test_parsing_in_threads_is_independent() -> None:
    """Each thread has its own parser (large bodies are parsed off the event loop, several at once)."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [b"<r>" + b"<e>%d</e>" % i * 2000 + b"</r>" for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        roots = list(pool.map(lambda b: xmlsafe.parse_bytes(b, limits=XmlLimits(max_elements=3000)), bodies * 4))
    assert [r[0].text for r in roots] == [str(i) for i in range(8)] * 4


def _refusal(data: bytes, limits: XmlLimits) -> str | None:
    try:
        xmlsafe.parse_bytes(data, limits=limits)
    except SoapFault as fault:
        return fault.reason
    return None


# Documents whose values or depth come close to their size: the walks a limit needs are skipped only when
# the document's bytes could not exceed it, so every limit from 1 to past the size refuses as the walk does.
TIGHT = [
    b'<r a="' + b"x" * 40 + b'"/>', b"<r>" + b"y" * 40 + b"</r>", nested(12), b"<r>" + b"<e/>" * 11 + b"</r>",
    b'<r a="&lt;&lt;&lt;&#x10FFFF;&#233;\xc3\xa9"><e>&amp;&amp;&#65;\xe2\x82\xac\xe2\x82\xac</e></r>',
    '<?xml version="1.0" encoding="UTF-16"?><r a="éééééé">ééé</r>'.encode("utf-16"),
    '<r a="éééééé"><e>ééé</e></r>'.encode("utf-16"),  # no declaration: lxml names it UTF-8, 2 bytes a character
    b'<?xml version="1.0" encoding="ISO-8859-1"?><r a="\xe9\xe9\xe9\xe9">\xe9\xe9\xe9</r>',
]


@pytest.mark.parametrize("data", TIGHT)
def test_skipped_walks_refuse_as_the_walks(data: bytes) -> None:
    root = xmlsafe.parse_bytes(data)
    for limit in range(1, len(data) + 3):
        for limits in (XmlLimits(max_attribute_chars=limit), XmlLimits(max_text_chars=limit), XmlLimits(max_depth=limit),
                       XmlLimits(max_elements=limit)):
            walked = None
            try:
                xmlsafe.check_shape(root, limits)  # no bytes given: every limit walked
            except SoapFault as fault:
                walked = fault.reason
            assert _refusal(data, limits) == walked, (limits, data)
