"""ITI-18 request decoder (xdscore.queries): malformed values, limits, LIKE patterns, and a fuzz invariant.

Invariant: whatever a Slot holds, `decode` returns a StoredQuery or violations; a malformed value is an
XDSRegistryError (or XDSStoredQueryParamNumber) whose location is the parameter, never an exception.
Deterministic: every parameter of every stored query gets every malformed token of its kind, then seeded
random mutants (`XDS_FUZZ_SEEDS=1-500 pytest tests/xdscore/test_queries.py` explores further).
"""

from __future__ import annotations

import os
import random

import pytest
from lxml import etree

from xdscore.queries import SPECS, Kind, Limits, Param, QuerySpec, decode, sql_like_pattern
from xdscore.vocabulary import NS, ErrorCode, StoredQueryId

RIM, QUERY = f"{{{NS.RIM}}}", f"{{{NS.QUERY}}}"
NAMING_CODES = {ErrorCode.XDSRegistryError, ErrorCode.XDSStoredQueryParamNumber}

VALID: dict[Kind, str] = {
    Kind.STRING: "'P1^^^&1.2.3&ISO'",
    Kind.LIKE: "'%Ford%'",
    Kind.CODE: "'c1^^1.2.3'",
    Kind.STATUS: "'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved'",
    Kind.TIME: "20040101",
    Kind.OBJECT_TYPE: "'urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1'",
    Kind.ASSOCIATION_TYPE: "'urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember'",
    Kind.INTEGER: "1",
}
# Malformed in any parameter: syntax the encoding (TF-2a 3.18.4.1.2.3.5) does not have.
ANY_KIND = ["-", "--1", "1-", "- 1", "'unterminated", "('a'", "('a' 'b')", "('a',)", "()", "abc", "'a'b", "1e5",
            "٣", "²", "'a''", "", "   ", "((1))", "('a'),('b')"]
BY_KIND: dict[Kind, list[str]] = {
    Kind.STRING: ["1", "9" * 5000, "''"],
    Kind.LIKE: ["1", "''", "'" + "a%" * 200 + "'"],
    Kind.CODE: ["'c1'", "'c1^^'", "'^^s'", "'c^^s^^t'", "1"],
    Kind.STATUS: ["'Approved'", "'urn:oasis:names:tc:ebxml-regrep:StatusType:approved'", "1"],
    Kind.TIME: ["'2004-01-01'", "200413", "2004010", "9" * 5000, "-2004", "'٢٠٠٤'", "'2004\n'"],
    Kind.OBJECT_TYPE: ["'urn:uuid:not-a-type'", "1"],
    Kind.ASSOCIATION_TYPE: ["'urn:example:AssociationType:Nope'", "'HasMember'", "'RPLC'", "1"],
    Kind.INTEGER: ["1" * 5000, "-", "'x'", "3"],
}


def _value(param: Param, token: str) -> str:
    return f"({token})" if param.multiple and not token.startswith("(") else token


def _request(spec: QuerySpec, override: tuple[str, list[str]] | None = None, extra: list[tuple[str, str]] = ()) -> etree._Element:
    req = etree.Element(f"{QUERY}AdhocQueryRequest", nsmap={"query": NS.QUERY, "rim": NS.RIM})
    etree.SubElement(req, f"{QUERY}ResponseOption", returnType="ObjectRef")
    adhoc = etree.SubElement(req, f"{RIM}AdhocQuery", id=spec.query.value)
    names = list(spec.required) + ([spec.one_of[0]] if spec.one_of else [])
    slots: list[tuple[str, list[str]]] = []
    for name in names:
        param = spec.param(name)
        assert param is not None
        slots.append((name, [_value(param, VALID[param.kind])]))
    if override is not None:
        slots = [s for s in slots if s[0] != override[0]] + [override]
    slots += [(n, [v]) for n, v in extra]
    for name, texts in slots:
        slot = etree.SubElement(adhoc, f"{RIM}Slot", name=name)
        vl = etree.SubElement(slot, f"{RIM}ValueList")
        for text in texts:
            etree.SubElement(vl, f"{RIM}Value").text = text
    return req


CASES = [
    (spec.query, param.name, token)
    for spec in SPECS.values()
    for param in spec.params
    if param.name not in ("$homeCommunityId",)
    for token in ANY_KIND + BY_KIND[param.kind]
]


def test_the_base_requests_are_valid() -> None:
    for spec in SPECS.values():
        decoded = decode(_request(spec))
        assert decoded.query is not None, (spec.query, decoded.violations)


@pytest.mark.parametrize("query", sorted({c[0] for c in CASES}, key=lambda q: q.name), ids=lambda q: q.name)
def test_a_malformed_value_is_an_error_naming_its_parameter(query: StoredQueryId) -> None:
    spec = SPECS[query]
    for _, name, token in (c for c in CASES if c[0] == query):
        param = spec.param(name)
        assert param is not None
        decoded = decode(_request(spec, (name, [token if param.multiple and token.startswith("(") else _value(param, token)])))
        assert decoded.query is None, (name, token)
        assert any(v.code in NAMING_CODES and v.location == name for v in decoded.violations), (name, token, decoded.violations)


def test_known_association_types_are_accepted() -> None:
    spec = SPECS[StoredQueryId.GetRelatedDocuments]
    value = "('urn:ihe:iti:2007:AssociationType:RPLC','urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember')"
    decoded = decode(_request(spec, ("$AssociationTypes", [value])))
    assert decoded.query is not None and len(decoded.query.any_of("$AssociationTypes") or []) == 2


# --- limits ----------------------------------------------------------------------------------------------


def _find(extra: list[tuple[str, str]]) -> etree._Element:
    return _request(SPECS[StoredQueryId.FindDocuments], extra=extra)


def _only(decoded_violations: list, name: str) -> str:  # type: ignore[type-arg]
    (v,) = decoded_violations
    assert v.code is ErrorCode.XDSRegistryError and v.location == name
    return str(v.context)


def test_values_per_parameter_limit() -> None:
    authors = "(" + ",".join(f"'%a{i}%'" for i in range(496)) + ")"
    decoded = decode(_find([("$XDSDocumentEntryAuthorPerson", authors)]))
    message = _only(decoded.violations, "$XDSDocumentEntryAuthorPerson")
    assert "at most 256" in message and "query_max_values" in message
    ok = "(" + ",".join(f"'%a{i}%'" for i in range(256)) + ")"
    assert decode(_find([("$XDSDocumentEntryAuthorPerson", ok)])).query is not None
    # The count spans the Slots of a repeatable parameter.
    events = [("$XDSDocumentEntryEventCodeList", "(" + ",".join(f"'e{j}^^s'" for j in range(20)) + ")")] * 13
    assert "query_max_values" in _only(decode(_find(events)).violations, "$XDSDocumentEntryEventCodeList")


def test_and_ed_slots_limit() -> None:
    events = [("$XDSDocumentEntryEventCodeList", f"('e{i}^^s')") for i in range(1000)]
    decoded = decode(_find(events), Limits(parameters=2000))
    message = _only(decoded.violations, "$XDSDocumentEntryEventCodeList")
    assert "more than 32 Slots" in message and "query_max_slots" in message
    assert decode(_find(events[:32])).query is not None


def test_total_parameters_limit() -> None:
    decoded = decode(_find([(f"$Unknown{i}", "'x'") for i in range(70)]))
    (v,) = decoded.violations
    assert v.code is ErrorCode.XDSRegistryError and "query_max_parameters" in v.context and "at most 64" in v.context


def test_like_pattern_length_limit() -> None:
    decoded = decode(_find([("$XDSDocumentEntryAuthorPerson", "('" + "a" * 60000 + "')")]))
    message = _only(decoded.violations, "$XDSDocumentEntryAuthorPerson")
    assert "60000 characters" in message and "at most 256" in message and "query_max_like_length" in message
    assert decode(_find([("$XDSDocumentEntryAuthorPerson", "('" + "a" * 256 + "')")])).query is not None


def test_limits_are_settings() -> None:
    tight = Limits(values=2, slots=1, parameters=3, like_length=3)
    assert decode(_find([("$XDSDocumentEntryAuthorPerson", "('a','b','c')")]), tight).violations
    assert decode(_find([("$XDSDocumentEntryAuthorPerson", "('abcd')")]), tight).violations
    assert decode(_find([("$XDSDocumentEntryAuthorPerson", "('abc')")]), tight).query is not None


def test_like_pattern_keeps_wildcards_and_backslashes() -> None:
    assert sql_like_pattern("%Ford_%") == "%Ford_%"
    assert sql_like_pattern("DOMAIN\\user%") == "DOMAIN\\\\user%"


# --- seeded random mutants -----------------------------------------------------------------------------------

TOKENS = [*ANY_KIND, *(t for ts in BY_KIND.values() for t in ts), *VALID.values(), "'%'", "'_'", "'\\'", "('a','b')"]


def _seeds() -> list[int]:
    spec = os.environ.get("XDS_FUZZ_SEEDS", "1-40")
    low, _, high = spec.partition("-")
    return list(range(int(low), int(high or low) + 1))


@pytest.mark.parametrize("seed", _seeds())
def test_random_requests_decode_without_exception(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        spec = rng.choice(list(SPECS.values()))
        names = [p.name for p in spec.params] + ["$Unknown", ""]
        extra = [(rng.choice(names), rng.choice(TOKENS)) for _ in range(rng.randint(0, 6))]
        decoded = decode(_request(spec, extra=extra), Limits(values=4, slots=2, parameters=8, like_length=40))
        assert (decoded.query is None) == bool(decoded.violations)
        for v in decoded.violations:
            assert len(v.context) < 400
