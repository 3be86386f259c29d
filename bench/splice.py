"""Packed fragments of a bulk load spliced from a per-template packing, not DEFLATEd one by one.

The registry stores each object's ebRIM fragment packed (`registry.sql.fragments`: a version byte, then raw
DEFLATE (RFC 1951) primed with that version's dictionary). DEFLATEing every fragment cost the loader about
two thirds of its CPU. A load's fragments of one template differ only in their token values (ids, times,
the patient), each of a fixed length, so the template is DEFLATEd once and every instance is spliced:

- Each token's first occurrence (with any short text between such tokens) becomes a *stored* block
  (RFC 1951 §3.2.4: BTYPE 00, LEN, NLEN, the bytes as they are), into which an instance puts its values.
  The compressed text between is made by zlib with a Z_SYNC_FLUSH before each stored block: the flush ends
  zlib's block on a byte boundary with an empty stored block (header bits, then LEN 0000, NLEN FFFF), whose
  LEN and NLEN are rewritten to the run's length.
- zlib compresses the template with a *placeholder* in each token's place, of the value's length, so every
  back reference counts the same distances as in an instance. The placeholders' own output is dropped (the
  stored blocks stand in its place).
- A later occurrence of a token is left to zlib: it becomes a back reference to the earlier one, which holds
  the same value in every instance. For that to be exact, no back reference may copy a placeholder byte
  into any other place than the same byte of the same token: placeholders are made of bytes that neither
  the dictionary nor the template's text holds, each token's first and last bytes used by no other, and no
  two consecutive bytes repeated elsewhere. A match of three bytes or more that covers placeholder bytes
  therefore lines up with the same token at the same offset.
- What zlib does not guarantee (that it matches a later occurrence whole rather than emitting part of it
  as literals) is checked: each spliced template is unpacked with three sets of random values and compared
  with the template filled in. If that fails, every occurrence is a stored block (exact by construction).

The result is a valid stream of the same stored format, which `fragments.unpack` reads like any other; it
is larger than DEFLATE of the whole (a value in a stored block takes a byte per character, where DEFLATE
codes a hex digit in about 4.5 bits): `splice_overhead` measures it.
"""

from __future__ import annotations

import random
import string
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from registry.sql import fragments

SHORT = 12  # text between two stored tokens shorter than this joins their stored block (a block costs ~5 bytes)
_TRIALS = 3


@dataclass(frozen=True)
class Spliced:
    """A packed template: `pieces` alternate packed bytes and token names; an instance's stored fragment is the
    pieces joined with each name replaced by its value (ASCII, exactly `lengths[name]` characters)."""

    pieces: tuple[bytes | str, ...]
    exact: bool  # later occurrences are back references (False: every occurrence is stored)
    # the pieces as (text, is a name): packed bytes as latin-1 text, so one str join and one encode make an
    # instance (cheaper than encoding each value)
    fill: tuple[tuple[str, bool], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fill", tuple((p.decode("latin-1"), False) if isinstance(p, bytes) else (p, True)
                                               for p in self.pieces))

    def pack(self, values: Mapping[str, str]) -> bytes:
        return "".join([values[p] if name else p for p, name in self.fill]).encode("latin-1")


def parse(pattern: str) -> list[str | tuple[str]]:
    """A `str.format` pattern (tokens `{NAME}`) → its text pieces and (token,) pieces, in order."""
    out: list[str | tuple[str]] = []
    for text, name, _spec, _conv in string.Formatter().parse(pattern):
        if text:
            out.append(text)
        if name is not None:
            out.append((name,))
    return out


def compile_pattern(pattern: str, lengths: Mapping[str, int], level: int = 6,
                    sample: random.Random | None = None) -> Spliced:
    """The spliced packing of one fragment pattern, its tokens' values of `lengths` characters (ASCII)."""
    parts = parse(pattern)
    placeholders = _placeholders(parts, lengths)
    for stored_all in (False, True):
        spliced = _splice(parts, placeholders, level, stored_all)
        if _checks(spliced, parts, lengths, sample or random.Random(0)):
            return spliced
    raise AssertionError(f"a spliced fragment does not unpack to its pattern: {pattern[:80]}…")


def _placeholders(parts: Sequence[str | tuple[str]], lengths: Mapping[str, int]) -> dict[str, bytes]:
    """A byte string per token, of its value's length, from bytes absent from the dictionary and the text:
    first and last bytes unique to the token, and no two consecutive bytes repeated across placeholders."""
    used = set(fragments.DICTIONARY_V1) | {b for p in parts if isinstance(p, str) for b in p.encode()}
    alphabet = [b for b in range(256) if b not in used]
    names = list(dict.fromkeys(p[0] for p in parts if isinstance(p, tuple)))
    edges, inner = alphabet[:2 * len(names)], alphabet[2 * len(names):]
    if len(inner) < 16:
        raise ValueError("too few free byte values for the placeholders")
    pairs: set[tuple[int, int]] = set()
    successors = dict.fromkeys(inner, 0)  # pairs used from each byte: walk on to the least used
    out = {}
    prev = inner[0]
    for i, name in enumerate(names):
        n = lengths[name]
        if n < 2:
            raise ValueError(f"token {name} is shorter than 2 characters")
        body = []
        for _ in range(n - 2):
            nxt = min((b for b in inner if (prev, b) not in pairs), key=successors.__getitem__)
            pairs.add((prev, nxt))
            successors[prev] += 1
            body.append(nxt)
            prev = nxt
        out[name] = bytes([edges[2 * i], *body, edges[2 * i + 1]])
    return out


def _splice(parts: Sequence[str | tuple[str]], placeholders: Mapping[str, bytes], level: int,
            stored_all: bool) -> Spliced:
    # Runs: a stored run is a sequence of first occurrences (all occurrences if stored_all) with the short
    # text between them; everything else is compressed text.
    seen: set[str] = set()
    runs: list[tuple[bool, list[str | tuple[str]]]] = []
    for p in parts:
        stored = isinstance(p, tuple) and (stored_all or p[0] not in seen)
        if isinstance(p, tuple):
            seen.add(p[0])
        if stored and runs and not runs[-1][0] and len(runs) > 1 and _short_text(runs[-1][1]):
            text = runs.pop()[1]  # short text between two stored tokens: stored with them
            runs[-1][1].extend(text)
        if runs and runs[-1][0] == stored:
            runs[-1][1].append(p)
        else:
            runs.append((stored, [p]))
    c = zlib.compressobj(level, zlib.DEFLATED, -13, 4, zlib.Z_DEFAULT_STRATEGY, fragments.DICTIONARY_V1)
    pieces: list[bytes | str] = [bytes((fragments.VERSION_V1,))]
    packed = b""
    for stored, run in runs:
        raw = b"".join(p.encode() if isinstance(p, str) else placeholders[p[0]] for p in run)
        if not stored:
            packed += c.compress(raw)
            continue
        packed += c.compress(b"") + c.flush(zlib.Z_SYNC_FLUSH)
        if not packed.endswith(b"\x00\x00\xff\xff"):
            raise AssertionError("zlib's sync flush did not end with an empty stored block")
        pieces.append(packed[:-4] + struct.pack("<HH", len(raw), len(raw) ^ 0xFFFF))
        packed = b""
        for p in run:  # the values and text go in as they are; the placeholders' output is dropped
            pieces.append(p.encode() if isinstance(p, str) else p[0])
        c.compress(raw)
        c.flush(zlib.Z_SYNC_FLUSH)
    pieces.append(packed + c.flush())
    merged: list[bytes | str] = []
    for p in pieces:
        if isinstance(p, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += p
        else:
            merged.append(p)
    return Spliced(tuple(merged), not stored_all)


def _short_text(run: Sequence[str | tuple[str]]) -> bool:
    return sum(len(p.encode()) for p in run if isinstance(p, str)) < SHORT and all(isinstance(p, str) for p in run)


def _checks(spliced: Spliced, parts: Sequence[str | tuple[str]], lengths: Mapping[str, int],
            rng: random.Random) -> bool:
    """Three instances of random values unpack to the pattern filled with them."""
    alphabet = "0123456789abcdefABCDEFGHIJKLMNOPQRSTUVWXYZ-"
    names = {p[0] for p in parts if isinstance(p, tuple)}
    for _ in range(_TRIALS):
        values = {n: "".join(rng.choice(alphabet) for _ in range(lengths[n])) for n in names}
        want = "".join(p if isinstance(p, str) else values[p[0]] for p in parts).encode()
        try:
            if fragments.unpack(spliced.pack(values)) != want:
                return False
        except fragments.CorruptFragment:
            return False
    return True
