"""Realistic DMP metadata for a bulk load (issue 20): the registry's rows of N DocumentEntries, as COPY text.

What it makes: patients with a long-tail number of documents (log-normal, mean `per_patient`,
so most have a few and some have hundreds), each patient's documents in submissions of 1 to 3 documents
(SubmissionSet, DocumentEntries, HasMember associations), about 5 % of them replacing an earlier document
of the patient (RPLC, the original Deprecated), about 3 % of the submissions putting their documents in a
new Folder; codes drawn from the DMP value sets (`valuesets/dmp`: JDV J57 class, J07 type, J04 practice
setting, J60 format, J61 facility type, J58 confidentiality, J59 content type), authors from a pool of
health professionals (RPPS ids), creation times over ten years.

Rows exactly as the registry stores them: each kind of submission is built once with placeholder ids
(`harness.builders`), passed through the registry's own `register.finalize` / `with_final_ids` (what ITI-42
does to a submission it accepts) and `registry.sql.writes.rows_for` (what it writes), and kept as a
template of COPY lines; an instance only puts fresh ids, times and the patient into those lines, and packs
each fragment (tests/bench/test_load.py registers two submissions with the registry's ITI-42 code and
loads the same: the rows are equal). `bench.load` COPYs them.

For speed (`compile_template`): a template's lines of each table are one pattern, filled once per
submission; every value of a token kind has one length (`LENGTHS`), so each fragment is spliced from one
DEFLATE packing of its template (`bench.splice`: other bytes than the registry's, larger, unpacking to the
same XML), or, not spliced, DEFLATEd at each instance like the registry's (its exact bytes).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

import registry
from bench import splice
from harness.builders import SubmissionBuilder
from registry.register import finalize, with_final_ids
from registry.sql import fragments, patient_number
from registry.sql.writes import COLUMNS, rows_for
from xdscore.model import Author, Code
from xdscore.vocabulary import AssociationType, Status

AUTHORITY = "1.2.250.1.213.1.4.8"  # INS-NIR: the DMP's patient identifier domain
VALUESETS = Path(registry.__file__).resolve().parents[1] / "valuesets" / "dmp"  # the DMP profile's JDVs
APPROVED, DEPRECATED = Status.APPROVED.value, Status.DEPRECATED.value
NOW = "20260101000000"
TOKEN = re.compile(r"@@([A-Z]+[0-9]*)@@")
MAX_DOCS = 3  # documents per submission
REPLACE_RATE, FOLDER_RATE = 0.05, 0.03
# The length of every value of a token kind (U: an entryUUID), fixed so that fragments can be spliced
# (bench.splice): a value takes the place of its token byte for byte.
LENGTHS = {"U": 36, "PID": 15, "NOW": 14, "T": 14, "HASH": 40, "SIZE": 6, "AUTH": 11, "AUTHNAME": 7, "N": 19}


@cache
def value_set(name: str) -> tuple[Code, ...]:
    """The concepts of one JDV file of valuesets/dmp (an IHE SVS RetrieveValueSetResponse)."""
    root = etree.parse(str(next(VALUESETS.glob(f"JDV_{name}_*.xml")))).getroot()
    return tuple(Code(c.get("code", ""), c.get("codeSystem", ""), c.get("displayName", ""))
                 for c in root.iter("{urn:ihe:iti:svs:2008}Concept"))


def patient_cx(n: int) -> str:
    return f"{pid(n)}^^^&{AUTHORITY}&ISO"


def patient_line(n: int) -> str:
    """Patient n's `patients` row as the ITI-8 feed stores it (its number, text key, CX), a COPY line."""
    return "\t".join(_copy_text(v) for v in (patient_number.number(patient_cx(n)), patient_cx(n), pid(n), AUTHORITY,
                                              patient_cx(n), json.dumps({}, sort_keys=True), None, NOW))


def pid(n: int) -> str:
    return f"9{n:014d}"  # a 15-digit NIR-like identifier


# --- templates: a kind of submission, as the registry would store it, with tokens where ids go -----------

@dataclass(frozen=True)
class Template:
    """The rows of one kind of submission: per table, each row as one `str.format` pattern of its COPY line
    (tokens as `{NAME}`); an `objects` row's fragment is a pattern of its own (`{FRAGMENT}` in the line)."""

    codes: dict[str, Any]  # what `draw` drew
    folder: bool
    replaces: bool
    lines: dict[str, list[tuple[str, str | None]]]  # table -> (line pattern, fragment pattern or None)
    tokens: tuple[str, ...]
    uuids: tuple[str, ...] = ()  # the tokens that take an entryUUID, the others by kind (`kinds`)
    kinds: tuple[tuple[str, str], ...] = ()  # (token, AUTH / T / HASH / SIZE / N)


def _copy_text(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _pattern(text: str) -> str:
    """`text` with its tokens as format fields (braces of the text itself escaped)."""
    return TOKEN.sub(r"{\1}", text.replace("{", "{{").replace("}", "}}"))


def _line(row: tuple[Any, ...], table: str) -> tuple[str, str | None]:
    fields, fragment = [], None
    for value, column in zip(row, COLUMNS[table], strict=True):
        if table == "objects" and column == "fragment":
            fragment = _pattern(fragments.unpack(value).decode())
            fields.append("{FRAGMENT}")
        elif column.endswith("_time") and isinstance(value, str) and "@@" in value:
            fields.append(_pattern(TOKEN.match(value).group(0)))  # type: ignore[union-attr] # pad_time padded the token
        else:
            fields.append(_pattern(_copy_text(value)))
    return "\t".join(fields), fragment


def draw(rng: random.Random, docs: int) -> dict[str, Any]:
    """The codes of one kind of submission, from the DMP value sets."""
    return {
        "content": rng.choice(value_set("J59")),
        "docs": [{"class_code": rng.choice(value_set("J57")), "type_code": rng.choice(value_set("J07")),
                  "practice_setting_code": rng.choice(value_set("J04")), "format_code": rng.choice(value_set("J60")),
                  "healthcare_facility_type_code": rng.choice(value_set("J61")),
                  "confidentiality_codes": (rng.choice(value_set("J58")),)} for _ in range(docs)],
    }


def build(codes: dict[str, Any], folder: bool, replaces: bool, v: Callable[[str], str]) -> SubmissionBuilder:
    """A submission of one patient with every id final (urn:uuid), what varies given by `v(token)`: the
    patient (PID), entryUUIDs (SS, DE0.., FD, A0.. associations, X0.. classifications and identifiers), a
    replaced document (R), uniqueIds, times, authors, hashes and sizes."""
    patient = f"{v('PID')}^^^&{AUTHORITY}&ISO"
    b = SubmissionBuilder(patient, ss_id=f"urn:uuid:{v('SS')}")

    def author(suffix: str) -> str:
        return f"{v('AUTH' + suffix)}^{v('AUTHNAME' + suffix)}^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^^IDNPS"

    b.with_submission_set(unique_id=f"1.2.250.1.999.1.{v('SSUID')}", submission_time=v("T"),
                          content_type_code=codes["content"], source_id=f"1.2.250.1.999.2.{v('SRC')}",
                          authors=(Author(person=author("")),))
    entries = []
    for d, doc_codes in enumerate(codes["docs"]):
        entries.append(b.add_document(
            f"urn:uuid:{v(f'DE{d}')}", unique_id=f"1.2.250.1.999.3.{v(f'DUID{d}')}", creation_time=v(f"T{d}"),
            service_start_time=v(f"T{d}"), service_stop_time=None, **doc_codes,
            authors=(Author(person=author(str(d)), institutions=(f"Etablissement^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{v('INST')}",)),),
            hash=v(f"HASH{d}"), size=v(f"SIZE{d}"), title="Document", mime_type="text/xml",
            repository_unique_id="1.2.250.1.999.4.1", language_code="fr-FR",
            source_patient_id=patient, source_patient_info=(f"PID-3|{patient}",),
        ))
    if folder:
        b.add_folder(f"urn:uuid:{v('FD')}", unique_id=f"1.2.250.1.999.5.{v('FDUID')}")
        for e in entries:
            b.link(f"urn:uuid:{v('FD')}", e, None)
    if replaces:
        b.relate(entries[0], f"urn:uuid:{v('R')}", AssociationType.REPLACE)
    # final ids everywhere, so the registry keeps them (register.finalize): associations, then the
    # classifications and external identifiers of every object, numbered in submission order
    assoc, inner = itertools.count(), itertools.count()
    final = []
    for o in b.objects:
        if not o.id.startswith("urn:uuid:"):
            o = replace(o, id=f"urn:uuid:{v(f'A{next(assoc)}')}")
        o = replace(o, classifications=tuple(replace(c, id=f"urn:uuid:{v(f'X{next(inner)}')}") for c in o.classifications),
                    external_identifiers=tuple(replace(e, id=f"urn:uuid:{v(f'X{next(inner)}')}") for e in o.external_identifiers))
        final.append(o)
    b.objects = final
    return b


def _no_new_ids() -> str:
    raise AssertionError("every id of a loader submission is final")


def build_template(codes: dict[str, Any], folder: bool, replaces: bool) -> Template:
    """One kind of submission: `docs` documents with codes drawn from the value sets, maybe a Folder holding
    them, maybe the first replacing an earlier document (token R), finalized and turned into rows by the
    registry's own code, with tokens where `build` puts what varies."""
    sub = build(codes, folder, replaces, lambda token: f"@@{token}@@").submission()
    patient = "@@PNUM@@"  # the patient number (registry.sql.patient_number), in the rows' `patient` column
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
    for obj in sub.all_objects():
        rim, _ = finalize(obj, {}, _no_new_ids, True, "@@NOW@@")
        rows_for(with_final_ids(obj, rim), patient, "@@NOW@@", rows)
    # rows_for lowercases the hash and keeps a size made of digits only: the tokens went through as "@@hash0@@"
    # and None; the values put there (lowercase hex, digits) go through unchanged, so put the tokens back.
    columns = COLUMNS["documents"]
    uuid_at, hash_at, size_at = columns.index("uuid"), columns.index("hash"), columns.index("size")
    for i, row in enumerate(rows["documents"]):
        d = TOKEN.search(row[uuid_at]).group(1)[2:]  # type: ignore[union-attr] # urn:uuid:@@DE<d>@@
        fixed = list(row)
        fixed[hash_at], fixed[size_at] = f"@@HASH{d}@@", f"@@SIZE{d}@@"
        rows["documents"][i] = tuple(fixed)
    lines = {name: [_line(row, name) for row in rows[name]] for name in COLUMNS}
    tokens = sorted({m for name in rows for row in rows[name] for v in row if v is not None
                     for m in TOKEN.findall(fragments.unpack(v).decode() if isinstance(v, bytes) else str(v))})
    uuids = tuple(t for t in tokens if t in ("SS", "FD", "R") or t.startswith("DE") or (t[0] in "AX" and t[1:].isdigit()))
    kinds = tuple((t, _kind(t)) for t in tokens if t not in uuids and t not in ("PID", "PNUM", "NOW") and not t.startswith("AUTHNAME"))
    return Template(codes, folder, replaces, lines, tuple(tokens), tuple(u for u in uuids if u != "R"), kinds)


def _kind(token: str) -> str:
    for prefix in ("AUTH", "HASH", "SIZE", "T"):
        if token.startswith(prefix):
            return prefix
    return "N"  # uniqueId suffixes, source, institution


def templates(seed: int, per_shape: int = 8) -> dict[tuple[int, bool, bool], list[Template]]:
    """`per_shape` templates (different codes) for each (documents, folder, replaces) shape."""
    rng = random.Random(seed)
    out = {}
    for docs in range(1, MAX_DOCS + 1):
        for folder in (False, True):
            for replaces in (False, True):
                out[(docs, folder, replaces)] = [build_template(draw(rng, docs), folder, replaces)
                                              for _ in range(per_shape)]
    return out


# --- instances -------------------------------------------------------------------------------------------

_UUID = "{}-{}-4{:.3}-a{:.3}-{}".format


def _uuids(rng: random.Random, n: int) -> list[str]:
    """n random (version 4 shaped) UUIDs, from one draw of random bytes: each group of the n UUIDs cut by
    `bytes.hex` with a separator, the groups put together by one format (no slicing per UUID)."""
    b = rng.randbytes(16 * n)
    return list(map(_UUID, b[:4 * n].hex(" ", 4).split(), b[4 * n:6 * n].hex(" ", 2).split(),
                    b[6 * n:8 * n].hex(" ", 2).split(), b[8 * n:10 * n].hex(" ", 2).split(),
                    b[10 * n:].hex(" ", 6).split()))


_DAYS = [time.strftime("%Y%m%d", time.gmtime(1_451_606_400 + d * 86_400)) for d in range(3_650)]
_CLOCK = [f"{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}" for s in range(86_400)]


def _time(rng: random.Random) -> str:
    """A time in the ten years before NOW, 14 digits."""
    day, second = divmod(rng.randrange(315_360_000), 86_400)
    return _DAYS[day] + _CLOCK[second]


def render(template: Template, values: dict[str, str], objects: list[str], out: dict[str, list[str]],
           pack: Callable[[bytes], bytes] = fragments.pack) -> None:
    """The COPY lines of one submission of `template` with `values`: its objects rows to `objects` (the
    patient's, until `deprecate` is done with them), the other rows to `out`; fragments packed by `pack`."""
    for name, lines in template.lines.items():
        into = objects if name == "objects" else out[name]
        for line, fragment in lines:
            if fragment is not None:
                values["FRAGMENT"] = "\\\\x" + pack(fragment.format_map(values).encode()).hex()
            into.append(line.format_map(values))


@dataclass(frozen=True)
class Compiled:
    """A template made fast to render: per table, its COPY lines as one pattern (rows joined by newlines), the
    objects rows' fragments as fields FRAGMENT0, FRAGMENT1…, each spliced from one packing (`bench.splice`),
    or (not spliced) a pattern of the fragment's XML, packed at each instance."""

    tables: tuple[tuple[str, str], ...]
    fragments: tuple[tuple[str, splice.Spliced | str], ...]


def compile_template(template: Template, level: int = 6, spliced: bool = True) -> Compiled:
    tables, packed = [], []
    for name, lines in template.lines.items():
        if not lines:
            continue
        patterns = []
        for line, fragment in lines:
            if fragment is not None:
                field = f"FRAGMENT{len(packed)}"
                packed.append((field, splice.compile_pattern(fragment, _lengths(fragment), level) if spliced else fragment))
                line = line.replace("{FRAGMENT}", "{" + field + "}")
            patterns.append(line)
        tables.append((name, "\n".join(patterns)))
    return Compiled(tuple(tables), tuple(packed))


def _lengths(pattern: str) -> dict[str, int]:
    """Each token's value length (`Generator.values` makes every value of a token's kind this long)."""
    names = {p[0] for p in splice.parse(pattern) if isinstance(p, tuple)}
    return {n: LENGTHS[_length_kind(n)] for n in names}


def _length_kind(token: str) -> str:
    if token.startswith("AUTHNAME"):
        return "AUTHNAME"
    if token in ("PID", "NOW"):
        return token
    if token in ("SS", "FD", "R") or token.startswith("DE") or (token[0] in "AX" and token[1:].isdigit()):
        return "U"
    return _kind(token)


def render_compiled(compiled: Compiled, values: dict[str, str], objects: list[str], out: dict[str, list[str]],
                    pack: Callable[[bytes], bytes] = fragments.pack) -> None:
    """What `render` makes, from a compiled template: one chunk of lines per table (objects to `objects`);
    the fragments not spliced are packed by `pack`."""
    for field, fragment in compiled.fragments:
        if isinstance(fragment, str):
            values[field] = "\\\\x" + pack(fragment.format_map(values).encode()).hex()
        else:
            values[field] = "\\\\x" + fragment.pack(values).hex()
    for name, pattern in compiled.tables:
        (objects if name == "objects" else out[name]).append(pattern.format_map(values))


def deprecate(objects: list[str], target: str) -> None:
    """What a RPLC's status update leaves on the original DocumentEntry (registry.register): Deprecated. (An
    item of `objects` may hold several lines.)"""
    prefix = f"urn:uuid:{target}\tDE\turn:uuid:{target}\t1\t{APPROVED}\t"
    for i, chunk in enumerate(objects):
        at = chunk.find(prefix)
        if at == 0 or (at > 0 and chunk[at - 1] == "\n"):
            objects[i] = chunk[:at] + chunk[at:].replace(APPROVED, DEPRECATED, 1)
            return


class Generator:
    """Rows of patients [first, last) as COPY text per table; deterministic for a seed."""

    def __init__(self, seed: int, per_patient: float, level: int = 6, spliced: bool = True) -> None:
        self.seed = seed
        self.per_patient = per_patient
        # DEFLATE level of the fragments: the registry's 6 (fragments.pack), or faster for bulk loads (same format)
        self.pack = fragments.pack if level == 6 else fragments.packer(level)
        self.templates = templates(seed)
        # each template with its compiled form, which renders it: fragments spliced (bench.splice), or each
        # DEFLATEd like the registry's (`spliced` False: the registry's bytes, 3.5 times the CPU)
        self.shapes = {shape: [(t, compile_template(t, level, spliced)) for t in ts] for shape, ts in self.templates.items()}
        self.authors = [(f"8100{n:07d}", f"NOM{n:04d}") for n in range(5000)]  # RPPS-like

    def documents_of(self, patient: int) -> int:
        """Long tail: log-normal with the wanted mean (sigma 1.1: median ≈ mean / 1.8), at least 1."""
        rng = random.Random(self.seed * 1_000_003 + patient)
        sigma = 1.1
        mu = math.log(self.per_patient) - sigma * sigma / 2
        return max(1, min(5000, round(rng.lognormvariate(mu, sigma))))

    def patient(self, n: int, documents: int, out: dict[str, list[str]]) -> None:
        """Append patient n's rows (its feed row and `documents` DocumentEntries in submissions) to `out`."""
        rng = random.Random(self.seed * 7_919 + n)
        out["patients"].append(patient_line(n))
        earlier: list[str] = []  # entryUUIDs of the patient's live documents, for replacements
        objects: list[str] = []
        left = documents
        while left > 0:
            docs = min(left, rng.choice((1, 1, 1, 2, 2, 3)))
            replaces = bool(earlier) and rng.random() < REPLACE_RATE
            folder = rng.random() < FOLDER_RATE
            template, compiled = rng.choice(self.shapes[(docs, folder, replaces)])
            values = self.values(rng, n, template)
            if replaces:
                values["R"] = earlier.pop(rng.randrange(len(earlier)))
                deprecate(objects, values["R"])
            render_compiled(compiled, values, objects, out, self.pack)
            if not folder:  # a replaced document's Folders would get the replacement too: not modelled
                earlier += [values[f"DE{d}"] for d in range(docs)]
            left -= docs
        out["objects"] += objects

    def values(self, rng: random.Random, patient: int, template: Template) -> dict[str, str]:
        """Fresh values for every token of `template`, for patient n."""
        values: dict[str, str] = dict(zip(template.uuids, _uuids(rng, len(template.uuids)), strict=True))
        values["PID"], values["NOW"] = pid(patient), NOW
        values["PNUM"] = str(patient_number.number(patient_cx(patient)))
        for token, kind in template.kinds:
            if kind == "AUTH":
                values[token], values["AUTHNAME" + token[4:]] = rng.choice(self.authors)
            elif kind == "T":
                values[token] = _time(rng)
            elif kind == "HASH":
                values[token] = f"{rng.getrandbits(160):040x}"
            elif kind == "SIZE":
                values[token] = str(rng.randrange(100_000, 1_000_000))  # 6 digits (LENGTHS)
            else:
                values[token] = str(rng.randrange(10**18, 2**62))  # 19 digits
        return values

    def batch(self, first: int, last: int, budget: int) -> tuple[dict[str, bytes], int]:
        """COPY data of patients [first, last), at most `budget` DocumentEntries in all: (table -> data, entries)."""
        out: dict[str, list[str]] = {name: [] for name in ("patients", *COLUMNS)}
        entries = 0
        for n in range(first, last):
            if entries >= budget:
                break
            docs = min(self.documents_of(n), budget - entries)
            self.patient(n, docs, out)
            entries += docs
        for lines in out.values():
            if lines:
                lines.append("")  # the last line's newline, without copying the joined text again
        return {name: "\n".join(lines).encode() for name, lines in out.items()}, entries


@cache
def generator(seed: int, per_patient: float, level: int = 6, spliced: bool = True) -> Generator:
    """One generator per process and parameters (its templates are built once)."""
    return Generator(seed, per_patient, level, spliced)
