"""Shared fixtures for the WS-Security tests: one generated test PKI per session (RSA and ECDSA).

Re-export them where needed: `pki, now = fixtures.pki, fixtures.now` at module level.
"""

from __future__ import annotations

import datetime as dt

import pytest

from xuatool.pki import TestPki, generate


@pytest.fixture(scope="session")
def pki() -> TestPki:
    return generate()


@pytest.fixture(scope="session")
def ec_pki() -> TestPki:
    return generate(key_type="ec")


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
