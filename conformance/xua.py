"""XUA for the kit: a signed SAML 2.0 assertion in the wsse:Security header of every SOAP request
(ITI TF-2b 3.40 Provide X-User Assertion), the NIST XUA tests' variants included.

The NIST toolkit asks the Gazelle STS for an assertion "based on the username appended to the test plan
Id" (`11966_expired` → user `expired`, `GazelleXuaUsername`); the kit issues the same variants itself with
`xuatool` from a test PKI folder (`python -m xuatool pki DIR`; the services under test trust `DIR/trust`):
`valid` for every test without a known suffix, and `expired`, `notyetvalid`, `unsigned`,
`unknownaudience`, `invalidauthnstatement`, `secondrole`, `secondpurposeofuse`, `secondauthncontext`,
`withauthzconsent` for the XUA tests named after them. Valid assertions are addressed to `audience`
(default: the endpoint URL called), `unknownaudience` to an audience no service has.

A test's variant goes only to the actor its XUA collection tests (`reg_xua`: the registry, `rep_xua`: the
repository); its verification steps towards the other actor (11966_*/eval queries the registry to check
that the repository registered nothing) carry a valid assertion. The toolkit sends those to its public
registry simulator, which checks no assertion: the kit reaches the same verdict against a registry that
does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lxml import etree

from xuatool import variants
from xuatool.pki import TestPki

_ACTOR_OF_COLLECTION = {"reg_xua": "registry", "rep_xua": "repository"}


class XuaSource:
    """`(test id, its collections, receiver, endpoint URL) -> wsse:Security` for `Runner(security=...)`."""

    def __init__(self, pki_dir: Path, audience: str | None = None, profile: str = "xua", signer: str = "seal"):
        try:
            self.pki = TestPki.load(pki_dir)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load the XUA test PKI from {pki_dir}: {exc}") from None
        self.audience = audience
        self.profile = profile
        self.signer = signer

    def variant(self, test_id: str) -> str:
        name = variants.variant_for_nist_test(test_id)
        if name is None:
            raise ValueError(f"test {test_id} asks for an XUA variant the kit does not know")
        return name

    def __call__(self, test_id: str, collections: list[str], receiver: str, url: str) -> etree._Element:
        name = self.variant(test_id)
        targets = {_ACTOR_OF_COLLECTION[c] for c in collections if c in _ACTOR_OF_COLLECTION}
        if targets and receiver not in targets:
            name = "valid"
        ctx = variants.VariantContext(
            pki=self.pki, now=dt.datetime.now(dt.UTC), profile=self.profile, audience=self.audience or url,
            signer=self.signer,
        )
        return variants.make(name, ctx)
