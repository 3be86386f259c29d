"""Caller-side tools for IHE XUA / French VIHF: build and sign test assertions, wrap them in a
wsse:Security header, generate a test PKI, and produce the named negative variants used by the tests
and the conformance kit (`python -m xuatool --help`).
"""

from xuatool.assertion import AssertionSpec, Code, build_assertion, sign_assertion
from xuatool.header import (
    add_security,
    add_security_to_bytes,
    request,
    security_header,
    timestamp_for,
)
from xuatool.pki import Credential, TestPki, generate

__all__ = [
    "AssertionSpec",
    "Code",
    "Credential",
    "TestPki",
    "add_security",
    "add_security_to_bytes",
    "build_assertion",
    "generate",
    "request",
    "security_header",
    "sign_assertion",
    "timestamp_for",
]
