"""`python -m xuatool`: the command line builds what the verifier accepts, and the variants it refuses."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from xdscore import soap, wssec, xmlsafe
from xdscore.wsse_faults import SecurityFault
from xuatool.header import request
from xuatool.variants import variant_for_nist_test

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> bytes:
    done = subprocess.run([sys.executable, "-m", "xuatool", *args], cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def verify(security_xml: bytes, trust: Path, profile: wssec.Profile) -> object:
    sec = etree.fromstring(security_xml)
    req = soap.read_envelope(xmlsafe.parse_bytes(request(etree.Element("{urn:x}E"), "urn:x:a", sec)))
    anchors = tuple(x509.load_pem_x509_certificates((trust / "ca.pem").read_bytes()))
    return wssec.verify(req.header, wssec.Policy(trust_anchors=anchors, now=dt.datetime.now(dt.UTC), profile=profile))


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-pki")
    assert b"XDS_TRUST_DIR" in run("pki", str(folder))
    return folder


def test_assertion_command_output_is_accepted(pki_dir: Path) -> None:
    out = run("assertion", "--cert", str(pki_dir / "card.pem"), "--key", str(pki_dir / "card.key"), "--header",
              "--mode", "DIRECTE", "--name-id", "899700000042", "--role", "10^1.2.250.1.71.1.2.7^Médecin",
              "--role", "SM26^1.2.250.1.71.4.2.5", "--purpose", "bris_de_glace^1.2.250.1.213.1.1.4.248")
    principal = verify(out, pki_dir / "trust", wssec.Profile.VIHF)
    assert principal.name_id == "899700000042" and principal.access_mode == "bris_de_glace"


def test_xua_profile_and_rsa_sha1(pki_dir: Path) -> None:
    out = run("assertion", "--profile", "xua", "--cert", str(pki_dir / "seal.pem"), "--key", str(pki_dir / "seal.key"),
              "--algorithm", "rsa-sha1", "--header")
    assert b"rsa-sha1" in out
    assert verify(out, pki_dir / "trust", wssec.Profile.XUA).name_id == "alice"


def test_variant_command_gives_the_expected_refusal(pki_dir: Path) -> None:
    with pytest.raises(SecurityFault, match="not signed"):
        verify(run("variant", "unsigned", "--pki", str(pki_dir)), pki_dir / "trust", wssec.Profile.VIHF)
    listing = run("variants").decode()
    assert "secondrole" in listing and "wsse:InvalidSecurityToken" in listing


def test_nist_test_ids_map_to_variants() -> None:
    assert variant_for_nist_test("11966_secondrole") == "secondrole"
    assert variant_for_nist_test("11966") == "valid"
    assert variant_for_nist_test("11990eval_valid") == "valid"
    assert variant_for_nist_test("11897_somethingelse") is None
