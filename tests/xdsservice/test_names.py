"""xdsservice.names: where a body is parsed, by whether its names are known (issue 16)."""

from __future__ import annotations

import asyncio
import threading

from lxml import etree

from xdscore.envelope_gate import Verdict
from xdscore.vocabulary import NS
from xdsservice import names, tree_threads
from xdsservice.early_security import EnvelopeCheck


def where(data: bytes, inline: int = 64 * 1024) -> tuple[str, tree_threads.TreeThread | None]:
    async def go() -> tuple[str, tree_threads.TreeThread | None]:
        name, owner = await names.parse(data, lambda: (etree.fromstring(data), threading.current_thread().name)[1],
                                        inline)
        await names.release(owner)
        return name, owner

    return asyncio.run(go())


def test_known_names_stay_where_they_were_and_new_ones_get_a_thread_of_their_own() -> None:
    body = b"<r><known_a b='1'/></r>"
    first, owner = where(body)
    assert isinstance(owner, names.Disposable) and first.startswith("envelope-own")  # new: a thread of its own
    again, owner = where(body.replace(b"'1'", b"'2'"))  # learned: parsed on the loop (a new value is no name)
    assert owner is None and again == threading.current_thread().name
    large, owner = where(body, inline=4)  # known and large: a long-lived parse thread
    assert owner in tree_threads.PARSES.threads and large.startswith("envelope-parse")


def test_a_disposable_thread_exits_when_released() -> None:
    body = b"<r><gone_c/></r>"

    async def go() -> threading.Thread:
        thread, owner = await names.parse(body, threading.current_thread, 1 << 20)
        assert thread.is_alive()
        await names.release(owner)
        return thread

    assert not asyncio.run(go()).is_alive()


def test_the_known_set_is_bounded_and_learns_no_flood() -> None:
    known = names.KnownNames(limit=5)
    known.learn(frozenset({b"a", b"b"}))
    assert known.has_all(frozenset({b"a"})) and not known.has_all(None)
    known.learn(frozenset({b"c", b"d", b"e", b"f"}))  # past the limit: not learned
    assert len(known) == 2
    known.learn(frozenset(str(i).encode() for i in range(names.LEARN_AT_MOST + 1)))
    assert len(known) == 2


def test_parse_here_parses_new_names_on_another_thread() -> None:
    here = threading.current_thread().name
    assert names.parse_here(b"<r><here_d/></r>", lambda: threading.current_thread().name) != here
    assert names.parse_here(b"<r><here_d/></r>", lambda: threading.current_thread().name) == here


class _Anonymous:
    def verify_header(self, header: object, context: object) -> None:
        return None

    def check_envelope(self, request: object, context: object) -> None:
        return None


def test_the_security_gate_moves_to_a_thread_of_its_own_when_new_names_arrive() -> None:
    known = f'<s:Envelope xmlns:s="{NS.SOAP12}"><s:Header>'.encode()
    names.KNOWN.learn(names.names.tokens(known + b"</s:Header></s:Envelope>"))
    check = EnvelopeCheck(_Anonymous(), None)

    async def go() -> Verdict:
        await check.feed_async(known)  # known: fed on the loop
        assert check._own is None
        await check.feed_async(b"<gate_new_e/></s:Header><s:Body><q/></s:Body></s:Envelope>")  # new: refed elsewhere
        return check.gate.verdict

    assert asyncio.run(go()) is Verdict.ANONYMOUS and check.verified is not None
    assert check._own is not None and check.gate.header is not None and check.gate.header[0].tag == "gate_new_e"
    check.close()
