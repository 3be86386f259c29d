"""Every ANS example CDA through `xds submit` into the registry and repository started as a DMP deployment
starts them (XDS_PROFILE=dmp: the DMP value sets, INS and author rules, the submission's XAdES signature,
WS-Security `required` by default), signed with a seal (`--key`), and back byte-identical by ITI-43.

The ten examples whose NIR carries a wrong control key (data errors of the ANS kit, docs/dmp.md) are the only
ones refused, each with XDSRegistryMetadataError naming the key; every other one passes the profile.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.services import Service, start_registry, start_repository
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


@pytest.fixture(scope="module")
def dmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service, Path]]:
    """The services as `XDS_PROFILE=dmp XDS_TRUST_DIR=... make run` starts them: no XDS_SECURITY, so `required`."""
    data = tmp_path_factory.mktemp("xds-dmp")
    pki_dir = data / "pki"
    trust = generate().write(pki_dir)
    env = {"XDS_PROFILE": "dmp", "XDS_TRUST_DIR": str(trust)}
    registry = start_registry(data / "registry", profile="dmp", env=env)
    try:
        repository = start_repository(data / "repository", registry.url, env=env)
    except Exception:
        registry.stop()
        raise
    yield registry, repository, pki_dir
    repository.stop()
    registry.stop()


def xds(*args: str, stack: tuple[Service, Service, Path]) -> subprocess.CompletedProcess[str]:
    registry, repository, _ = stack
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "XDS_CLIENT_REGISTRY_URL": registry.url,
           "XDS_CLIENT_REPOSITORY_URL": repository.url, "XDS_CLIENT_FEED": f"127.0.0.1:{registry.feed_port}"}
    for name in ("XDS_CLIENT_KEY", "XDS_CLIENT_CERT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "xdsclient.cli", *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_every_example_under_the_dmp_profile(dmp: tuple[Service, Service, Path]) -> None:
    registry, repository, pki_dir = dmp
    seal = ("--key", str(pki_dir / "seal.key"), "--cert", str(pki_dir / "seal.pem"))
    done = xds("submit", "--feed", "-q", *seal, str(EXAMPLES), stack=dmp)
    examples = all_examples()
    sent = len(examples) - len(BAD_NIR_KEY)
    assert done.returncode == 1 and done.stdout.strip().endswith(f"{sent} sent, {len(BAD_NIR_KEY)} not sent"), done.stdout
    refusals = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in done.stderr.splitlines()
                if line.startswith("xds: ")}
    assert set(refusals) == set(BAD_NIR_KEY), done.stderr
    for name, (nir, key) in BAD_NIR_KEY.items():
        assert refusals[name].startswith("refused: XDSRegistryMetadataError ("), refusals[name]
        assert f"NIR {nir} has the control key {nir[13:]}, the NIR's key is {key}" in refusals[name], refusals[name]

    vihf = signed_vihf(Signer.load(pki_dir / "seal.key", pki_dir / "seal.pem"), "1.2.250.1.999.1.1.9999")
    for path in examples:
        data = path.read_bytes()
        uid = derive(data, Options("1.2", "1.2", "20240101")).document_entry.unique_id
        found = query.get_documents(registry.url, uid, security=vihf)  # type: ignore[arg-type]
        if path.name in BAD_NIR_KEY:
            assert found == [], path.name  # refused: nothing of it stored
            continue
        (entry,) = found
        assert entry.repository_unique_id and entry.hash == hashlib.sha1(data).hexdigest(), path.name
        back = query.retrieve(repository.url, uid, entry.repository_unique_id, security=vihf)  # type: ignore[arg-type]
        assert back.data == data, path.name


def test_dmp_services_want_a_vihf_on_every_call(dmp: tuple[Service, Service, Path]) -> None:
    """`required` is the dmp default: the same query without the VIHF is a WS-Security fault."""
    with pytest.raises(query.ServiceError, match=r"SOAP fault: .*wsse:Security"):
        query.get_documents(dmp[0].url, "1.2.250.1.213.1.1.1.21.2022.1.1")
    signed = xds("query", "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH", "--key", str(dmp[2] / "seal.key"),
                 "--cert", str(dmp[2] / "seal.pem"), stack=dmp)
    assert signed.returncode == 0 and signed.stdout.strip().endswith("documents"), signed.stdout + signed.stderr
