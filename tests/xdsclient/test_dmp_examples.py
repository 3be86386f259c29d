"""Every ANS example CDA through `xds submit` into the registry and repository started as a DMP deployment
starts them, and back byte-identical by ITI-43.

The deployment: XDS_PROFILE=dmp (the DMP value sets, INS and author rules, the submission's XAdES signature,
the DMP access rules, WS-Security `required` by default), the registry over HTTPS trusting the repository's
client certificate as a forwarder (docs/dmp.md), each example patient's DMP open with one médecin traitant.
The documents go in with `xds submit --mode DIRECTE --key card.key` (a VIHF signed with a professional's
card, NameID = each document's first author: the DMP takes documents from their authors) and come back read
by the médecin traitant (GetDocuments, ITI-43), who may see every document.

The ten examples whose NIR carries a wrong control key (data errors of the ANS kit, docs/dmp.md) are the only
ones refused, each with XDSRegistryMetadataError naming the key; every other one passes the profile.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.services import Service, start_registry, start_repository
from tests.dmp_records import RECORDS_FILE
from tests.xdscore.cda_samples import EXAMPLES, all_examples
from xdsclient.cli import query
from xdsclient.cli.submit import Signer, signed_vihf
from xdscore.cda.metadata import Options, derive
from xuatool.pki import generate

# NIR control key wrong in the official examples: (file, NIR as written, the key the NIR asks for)
BAD_NIR_KEY = {
    "CSE-CS24_2024.01.xml": ("221042545611404", "83"),
    "CSE-CS24_2025.01.xml": ("221042545611404", "83"),
    "CSE-CS8_2024.01.xml": ("223042545611404", "82"),
    "CSE-CS8_2025.01.xml": ("221042545611404", "83"),
    "CSE-CS9_2024.01.xml": ("221042545611404", "83"),
    "CSE-MDE_2023.01.xml": ("222127505611201", "47"),
    "OBP-SEM_2024.01.xml": ("223042545611404", "82"),
    "OBP-SNE_2024.01.xml": ("223042545611404", "82"),
    "SDM-MR_2024.01_nouveau-ne.xml": ("224027511583555", "12"),
    "VAC_2023.01.xml": ("276059205062865", "83"),  # the legalAuthenticator, a patient (the patientId is right)
}
TIMEOUT = 600
READER = "810000000001"  # a médecin, the médecin traitant of every example patient
OPTIONS = Options("1.2", "1.2", "20240101")


@dataclass(frozen=True)
class Dmp:
    registry: Service
    registry_url: str  # https
    repository: Service
    pki_dir: Path

    @property
    def card(self) -> tuple[str, ...]:
        return ("--key", str(self.pki_dir / "card.key"), "--cert", str(self.pki_dir / "card.pem"), "--mode", "DIRECTE")


@pytest.fixture(scope="module")
def dmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dmp]:
    """The services as a DMP deployment runs them (no XDS_SECURITY: `required`)."""
    data = tmp_path_factory.mktemp("xds-dmp")
    pki_dir = data / "pki"
    trust = generate().write(pki_dir)
    patients = sorted({derive(p.read_bytes(), OPTIONS).document_entry.patient_id or "" for p in all_examples()})
    records = data / "records.json"
    records.write_text(json.dumps([{"patient_id": p, "medecins_traitants": [READER]} for p in patients]))
    common = {"XDS_PROFILE": "dmp", "XDS_TRUST_DIR": str(trust)}
    registry = start_registry(data / "registry", profile="dmp", env=common | {
        "XDS_REGISTRY_TLS_CERT": str(pki_dir / "server.pem"), "XDS_REGISTRY_TLS_KEY": str(pki_dir / "server.key"),
        "XDS_REGISTRY_TLS_CLIENT_CA": str(trust), "XDS_REGISTRY_TLS_CLIENT_AUTH": "optional",
        "XDS_REGISTRY_SECURITY_TRUSTED_FORWARDERS": str(pki_dir / "client.pem"),
        "XDS_REGISTRY_ACCESS_RECORDS": "tests.dmp_records:from_file", RECORDS_FILE: str(records)})
    registry_url = registry.url.replace("http://", "https://")
    try:
        repository = start_repository(data / "repository", registry_url, env=common | {
            "XDS_REPOSITORY_REGISTRY_TLS_CA": str(trust / "ca.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_CERT": str(pki_dir / "client.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_KEY": str(pki_dir / "client.key")})
    except Exception:
        registry.stop()
        raise
    yield Dmp(registry, registry_url, repository, pki_dir)
    repository.stop()
    registry.stop()


def xds(*args: str, stack: Dmp) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "XDS_CLIENT_REGISTRY_URL": stack.registry_url,
           "XDS_CLIENT_REPOSITORY_URL": stack.repository.url, "XDS_CLIENT_FEED": f"127.0.0.1:{stack.registry.feed_port}",
           "SSL_CERT_FILE": str(stack.pki_dir / "trust" / "ca.pem")}  # the registry's server certificate
    for name in ("XDS_CLIENT_KEY", "XDS_CLIENT_CERT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "xdsclient.cli", *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_every_example_under_the_dmp_profile(dmp: Dmp, monkeypatch: pytest.MonkeyPatch) -> None:
    done = xds("submit", "--feed", "-q", *dmp.card, str(EXAMPLES), stack=dmp)
    examples = all_examples()
    sent = len(examples) - len(BAD_NIR_KEY)
    assert done.returncode == 1 and done.stdout.strip().endswith(f"{sent} sent, {len(BAD_NIR_KEY)} not sent"), done.stdout
    refusals = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in done.stderr.splitlines()
                if line.startswith("xds: ")}
    assert set(refusals) == set(BAD_NIR_KEY), done.stderr
    for name, (nir, key) in BAD_NIR_KEY.items():
        assert refusals[name].startswith("refused: XDSRegistryMetadataError ("), refusals[name]
        assert f"NIR {nir} has the control key {nir[13:]}, the NIR's key is {key}" in refusals[name], refusals[name]

    monkeypatch.setenv("SSL_CERT_FILE", str(dmp.pki_dir / "trust" / "ca.pem"))  # httpx: the registry's CA
    reader = Signer.load(dmp.pki_dir / "card.key", dmp.pki_dir / "card.pem", mode="DIRECTE", name_id=READER)
    vihf = signed_vihf(reader, "1.2.250.1.999.1.1.9999")
    for path in examples:
        data = path.read_bytes()
        uid = derive(data, OPTIONS).document_entry.unique_id
        found = query.get_documents(dmp.registry_url, uid, security=vihf)  # type: ignore[arg-type]
        if path.name in BAD_NIR_KEY:
            assert found == [], path.name  # refused: nothing of it stored
            continue
        (entry,) = found
        assert entry.repository_unique_id and entry.hash == hashlib.sha1(data).hexdigest(), path.name
        back = query.retrieve(dmp.repository.url, uid, entry.repository_unique_id, security=vihf)  # type: ignore[arg-type]
        assert back.data == data, path.name


def test_dmp_services_want_a_vihf_on_every_call(dmp: Dmp, monkeypatch: pytest.MonkeyPatch) -> None:
    """`required` is the dmp default: the same query without the VIHF is a WS-Security fault; with the médecin
    traitant's VIHF (`xds query --mode DIRECTE --name-id`) it is answered."""
    monkeypatch.setenv("SSL_CERT_FILE", str(dmp.pki_dir / "trust" / "ca.pem"))
    with pytest.raises(query.ServiceError, match=r"SOAP fault: .*wsse:Security"):
        query.get_documents(dmp.registry_url, "1.2.250.1.213.1.1.1.21.2022.1.1")
    signed = xds("query", "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH", *dmp.card, "--name-id", READER, stack=dmp)
    assert signed.returncode == 0 and signed.stdout.strip().endswith("documents"), signed.stdout + signed.stderr
