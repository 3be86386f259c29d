"""WS-Security verified before the Body is read (issue 18; WSS 1.1; ITI TF-2b 3.40 XUA; SOAP 1.2 Part 1 §5).

A service that verifies assertions must not read, parse or spool a large request only to refuse it for a
missing or forged assertion. `EnvelopeCheck` is fed the envelope's bytes as they arrive: a plain SOAP
body, or the root MIME part of an MTOM message (it is the assembler's `RootWatcher`). At the start of
soap:Body (`xdscore.envelope_gate`) it runs the endpoint's security hook on the complete Header, with
every `xdscore.wssec` check (signature, trust, times, attributes), and either raises the hook's
`SecurityFault` (the rest of the body is never read, no attachment is hashed or spooled) or keeps the
Principal (`verified`) for the handler, so nothing is verified twice. Once the envelope is parsed,
`SoapService` asks the hook only what the Header alone could not show: that no ID of the Body repeats
one of the Header (`check_envelope`).

Used when the hook offers `verify_header` and `check_envelope` (`xdsservice.security.WsSecurityHook`);
any other hook is called on the whole request as before. When the Header cannot be judged first (the
envelope has no Body, or an MTOM message puts an attachment before its root part), the check gives way
to that late call, except that an endpoint requiring an assertion refuses an attachment before the root.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from lxml import etree

from xdscore import names as xnames
from xdscore import soap
from xdscore.envelope_gate import DEFAULT_MAX_HEADER_BYTES, HeaderGate, Verdict
from xdscore.errors import FaultCode, SoapFault
from xdsservice import names, tree_threads

T = TypeVar("T")


class HeaderVerifier(Protocol):
    def verify_header(self, header: etree._Element | None, context: Any) -> Any: ...

    def check_envelope(self, request: soap.SoapRequest, context: Any) -> None: ...


@dataclass(frozen=True)
class Verified:
    """The hook's answer on the Header, given before the Body was read: the Principal, or None (anonymous)."""

    principal: Any


def header_verifier(security: object) -> HeaderVerifier | None:
    """`security` when it can verify a Header on its own, else None."""
    if callable(getattr(security, "verify_header", None)) and callable(getattr(security, "check_envelope", None)):
        return security  # type: ignore[return-value]
    return None


class EnvelopeCheck:
    """Feed the envelope's bytes; the Header is verified as soon as the Body starts."""

    def __init__(self, hook: HeaderVerifier, context: Any, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self.hook = hook
        self.context = context  # what the hook may read of the exchange (client address, TLS peer)
        self.gate = HeaderGate(max_header_bytes)
        self.required = bool(getattr(getattr(hook, "policy", None), "require_assertion", False))
        self.verified: Verified | None = None
        self.given_up = False  # the Header could not come first: the late call decides
        self._thread: tree_threads.TreeThread | None = None
        # Names never seen before are parsed on a thread of the request's own (xdsservice.names).
        self._scanner = xnames.Scanner()
        self._own: names.Disposable | None = None
        self._fed: list[bytes] = []  # fed to the gate on a shared thread, while all its names were known
        self._refeed: bytes | None = None

    @property
    def pending(self) -> bool:
        """Still reading the Header."""
        return self.verified is None and not self.given_up

    def feed(self, data: bytes) -> Verdict:
        """Feed envelope bytes without verifying; the gate's verdict (NEED_DATA until the Body starts). Bytes
        with names never seen before are parsed on the request's own thread (waited for: call this from a
        worker thread then, as the MTOM assembler does, or use `feed_async`)."""
        if not self.pending or self.gate.verdict is not Verdict.NEED_DATA:
            return self.gate.verdict
        if self._needs_own_thread(data):
            assert self._own is not None
            return self._own.call(partial(self._feed_own, data))
        return self.gate.feed(data)

    def _needs_own_thread(self, data: bytes) -> bool:
        """Whether `data` must go to the gate on the request's own thread (xdsservice.names): it holds names
        never seen before, or earlier bytes did. The gate fed so far on a shared thread is then dropped (its
        names were known) and fed again from the start on the request's own thread: a pull parser's tree
        must take its names from one thread's dictionary (xdsservice.tree_threads)."""
        if self._own is not None:
            return True
        tokens = self._scanner.feed(data)
        if names.KNOWN.has_all(tokens):
            self._fed.append(data)
            return False
        self._own = names.Disposable("envelope-check")
        self._own.tokens = names.count(tokens, len(data) // 8)
        self._refeed, self._fed = b"".join(self._fed), []
        return True

    def tokens_of(self, body: bytes) -> frozenset[bytes] | bool | None:
        """`xdscore.names.tokens(body)` when this check scanned `body` whole as it came (one piece), else
        False: the body's parse need not scan it again (`xdsservice.names.parse`)."""
        return self._scanner.tokens_of(body)

    def _feed_own(self, data: bytes) -> Verdict:
        if self._refeed is not None:
            self.gate = HeaderGate(self.gate.max_header_bytes)
            fed, self._refeed = self._refeed, None
            if fed and self.gate.feed(fed) is not Verdict.NEED_DATA:
                return self.gate.verdict
        return self.gate.feed(data)

    def verify(self) -> None:
        """Run the hook on the complete Header; a refusal answers the request's wsa:MessageID."""
        try:
            self.verified = Verified(self.hook.verify_header(self.gate.header, self.context))
        except SoapFault as fault:
            fault.relates_to = self.gate.message_id  # type: ignore[attr-defined]  # read by SoapService
            raise

    async def feed_async(self, data: bytes) -> None:
        """`feed`, then verify: in a worker thread when there is a signature to check, at once otherwise (an
        anonymous request is accepted or refused without crypto)."""
        if not self.pending or self.gate.verdict is not Verdict.NEED_DATA:
            verdict = self.gate.verdict
        elif self._needs_own_thread(data):
            assert self._own is not None
            verdict = await self._own.run(partial(self._feed_own, data))
        else:
            verdict = self.gate.feed(data)
        if verdict is Verdict.SECURED:
            await (self._own.run(self.verify) if self._own is not None else asyncio.to_thread(self.verify))
        elif verdict is Verdict.ANONYMOUS:
            self.verify()

    async def in_own_thread(self, work: Callable[[], T]) -> T:
        """Run `work` (the MTOM assembler fed while the Header is pending: it feeds this check) on this check's
        one worker thread (`xdsservice.tree_threads.GATES`). The gate's lxml pull parser must be fed from one
        thread only: fed by whichever pool thread was free, its partial tree mixed names from the libxml2
        dictionaries of several threads and freeing it aborted the process (free(): invalid pointer; found by
        harness.fuzz, issue 16)."""
        if self._thread is None:
            self._thread = tree_threads.GATES.pick()
        return await self._thread.run(work)

    def close(self) -> None:
        """The request is read: the check no longer needs its thread (a shared one is left running, one of
        its own exits; the Header's tree keeps what it needs of its names)."""
        self._thread = None
        self._fed = []
        if self._own is not None:
            self._own.close_soon()

    # --- xdscore.mtom.RootWatcher: the root MIME part of an MTOM message ------------------------------

    def root_data(self, data: bytes) -> None:
        """Bytes of the root part; verifies in the caller's thread (SoapService and the repository feed the
        assembler from a worker thread while the check is pending)."""
        if self.pending and self.feed(data) is not Verdict.NEED_DATA:
            if self._own is not None:  # the Header's tree is that thread's: xmlsec adds IDs to it
                self._own.call(self.verify)
            else:
                self.verify()

    def attachment_starts(self) -> None:
        """An attachment part begins: the Header must have been judged by then."""
        if not self.pending:
            return
        if self.required:
            raise SoapFault(FaultCode.SENDER, "an attachment came before the SOAP envelope's Body: this service "
                                              "verifies the WS-Security header before it reads attachments, so the "
                                              "envelope must be the first MIME part")
        self.given_up = True
