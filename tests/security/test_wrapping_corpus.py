"""Signature-wrapping corpus: every stored message gets its recorded answer from xdscore.wssec.

The folder is written by `python -m xuatool wrapping-corpus tests/security/wrapping_corpus` and
replayed with the recorded `now` and CA, so the files never change under the test.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest
from cryptography import x509

from xdscore import soap, wssec, xmlsafe
from xdscore.vocabulary import NS
from xdscore.wsse_faults import SecurityFault
from xuatool.wrapping import ATTACKS

CORPUS = Path(__file__).parent / "wrapping_corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
POLICY = wssec.Policy(
    trust_anchors=tuple(x509.load_pem_x509_certificates((CORPUS / "trust" / "ca.pem").read_bytes())),
    now=dt.datetime.fromisoformat(EXPECTED["now"]),
    profile=wssec.Profile.VIHF,
)


def test_corpus_matches_the_attack_list() -> None:
    files = {p.stem for p in CORPUS.glob("*.xml")}
    assert files == set(EXPECTED["attacks"]) == {name for name, *_ in ATTACKS}
    assert len([f for f in files if f.startswith("xsw-")]) >= 6
    refused = {name for name, entry in EXPECTED["attacks"].items() if entry["fault"]}
    assert all(EXPECTED["attacks"][name]["reason"] for name in refused)


@pytest.mark.parametrize("name", sorted(EXPECTED["attacks"]))
def test_wrapping_variant(name: str) -> None:
    expected = EXPECTED["attacks"][name]
    request = soap.read_envelope(xmlsafe.parse_bytes((CORPUS / f"{name}.xml").read_bytes()))
    if expected["fault"]:
        with pytest.raises(SecurityFault) as info:
            wssec.verify(request.header, POLICY)
        assert info.value.subcode == (NS.WSSE, expected["fault"]), info.value.reason
        assert expected["reason"] in info.value.reason
    else:
        principal = wssec.verify(request.header, POLICY)
        assert principal is not None
        # the decision is made on the signed assertion, whatever else the message carries
        assert principal.name_id == expected["name_id"] != "MALLORY"
