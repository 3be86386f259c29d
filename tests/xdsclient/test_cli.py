"""The `xds` command as a user runs it (a real subprocess) against the registry and repository started as
`make run` starts them (free ports): every ANS example CDA goes in with `xds submit` and comes back
byte-identical by ITI-43; query, retrieve, feed; the signed VIHF and the XAdES signature document; errors
are one line and a non-zero exit."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from signxml import XMLVerifier

from harness.services import Service, start_registry, start_repository
from tests.xdscore.cda_samples import EXAMPLES, HL7, all_examples, changed
from xdsclient.cli import query
from xdscore.cda.metadata import Options, derive
from xuatool.pki import TestPki, generate

LAURENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"  # the test INS of most examples
TIMEOUT = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service, TestPki, Path]]:
    data = tmp_path_factory.mktemp("xds-cli")
    pki = generate()
    env = {"XDS_SECURITY": "optional", "XDS_TRUST_DIR": str(pki.write(data / "pki")), "XDS_SECURITY_PROFILE": "vihf"}
    registry = start_registry(data / "registry", env=env)
    try:
        repository = start_repository(data / "repository", registry.url, env=env)
    except Exception:
        registry.stop()
        raise
    yield registry, repository, pki, data / "pki"
    repository.stop()
    registry.stop()


def xds(*args: str, stack: tuple[Service, Service, TestPki, Path] | None = None,
        check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for name in ("XDS_CLIENT_REGISTRY_URL", "XDS_CLIENT_REPOSITORY_URL", "XDS_CLIENT_FEED", "XDS_CLIENT_KEY", "XDS_CLIENT_CERT"):
        env.pop(name, None)
    if stack is not None:
        registry, repository = stack[0], stack[1]
        env.update(XDS_CLIENT_REGISTRY_URL=registry.url, XDS_CLIENT_REPOSITORY_URL=repository.url,
                   XDS_CLIENT_FEED=f"127.0.0.1:{registry.feed_port}")
    done = subprocess.run([sys.executable, "-m", "xdsclient.cli", *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT)
    if check is not None:
        assert done.returncode == check, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_every_example_goes_in_and_comes_back_identical(stack: tuple[Service, Service, TestPki, Path]) -> None:
    registry, repository = stack[0], stack[1]
    done = xds("submit", "--feed", "-q", str(EXAMPLES), stack=stack)
    examples = all_examples()
    assert f"{len(examples)} sent, 0 not sent" in done.stdout, done.stdout
    for path in examples:
        data = path.read_bytes()
        uid = derive(data, Options("1.2", "1.2", "20240101")).document_entry.unique_id
        (entry,) = query.get_documents(registry.url, uid)  # type: ignore[arg-type]
        assert entry.repository_unique_id and entry.hash == hashlib.sha1(data).hexdigest()
        back = query.retrieve(repository.url, uid, entry.repository_unique_id)  # type: ignore[arg-type]
        assert back.data == data, path.name


def test_query_prints_the_patients_documents(stack: tuple[Service, Service, TestPki, Path]) -> None:
    imaging = "1.2.250.1.213.1.1.1.45.2024.1.1"  # IMG_CR_IMG_2024.01.xml, class 31
    out = xds("query", LAURENT, stack=stack).stdout
    assert imaging in out and "1.2.250.1.213.1.1.1.21.2022.1.1" in out
    assert out.splitlines()[0].split() == ["uniqueId", "created", "class", "type", "title", "status", "mimeType", "size"]
    only_imaging = xds("query", LAURENT, "--class", "31^^1.2.250.1.213.1.1.4.1", stack=stack).stdout
    assert imaging in only_imaging and "1.2.250.1.213.1.1.1.21.2022.1.1" not in only_imaging
    assert xds("query", "NOBODY^^^&1.2.3.4&ISO", stack=stack).stdout.strip().endswith("0 documents")


def test_retrieve_to_a_file_and_to_stdout(stack: tuple[Service, Service, TestPki, Path], tmp_path: Path) -> None:
    original = (EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes()
    uid = "1.3.6.1.4.1.19376.1.2.20.12345.1.1"
    xds("retrieve", uid, "-o", str(tmp_path / "doc.xml"), stack=stack)
    assert (tmp_path / "doc.xml").read_bytes() == original
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "XDS_CLIENT_REGISTRY_URL": stack[0].url, "XDS_CLIENT_REPOSITORY_URL": stack[1].url}
    raw = subprocess.run([sys.executable, "-m", "xdsclient.cli", "retrieve", uid], capture_output=True, env=env, timeout=TIMEOUT)
    assert raw.returncode == 0 and raw.stdout == original


def _new_document(tmp_path: Path, name: str = "LDL-EES_2022.01.xml") -> tuple[Path, str]:
    """An example with a fresh document id, so that it can be submitted again."""
    uid = f"1.2.250.1.999.1.1.{os.getpid()}.{len(list(tmp_path.iterdir()))}.{hash(tmp_path) % 10**6}"
    path = tmp_path / f"{uid}.xml"
    path.write_bytes(changed(name, lambda r: r.find("hl7:id", HL7).set("root", uid)))
    return path, uid


def test_a_signed_vihf_goes_with_the_key(stack: tuple[Service, Service, TestPki, Path], tmp_path: Path) -> None:
    pki_dir = stack[3]
    path, _ = _new_document(tmp_path)
    done = xds("submit", "--feed", "--key", str(pki_dir / "seal.key"), "--cert", str(pki_dir / "seal.pem"),
               "--no-signature-document", str(path), stack=stack)
    assert "1 sent, 0 not sent" in done.stdout
    # the same request signed by a key the services do not trust is refused at the WS-Security check
    path, _ = _new_document(tmp_path)
    done = xds("submit", "--key", str(pki_dir / "rogue.key"), "--cert", str(pki_dir / "rogue.pem"),
               "--no-signature-document", str(path), stack=stack, check=1)
    assert "refused" in done.stdout and "SOAP fault" in done.stdout, done.stdout


def test_the_xades_signature_document_goes_with_the_key(stack: tuple[Service, Service, TestPki, Path], tmp_path: Path) -> None:
    registry, pki, pki_dir = stack[0], stack[2], stack[3]
    path, uid = _new_document(tmp_path, "IMG_CR_IMG_2024.01.xml")
    done = xds("submit", "--feed", "--key", str(pki_dir / "seal.key"), "--cert", str(pki_dir / "seal.pem"), str(path),
               stack=stack)
    assert "1 sent, 0 not sent" in done.stdout, done.stdout
    (entry,) = query.find_documents(registry.url, LAURENT, filters={
        "$XDSDocumentEntryClassCode": ["urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1^^URN"]})
    signature = query.retrieve(stack[1].url, entry.unique_id, entry.repository_unique_id).data  # type: ignore[arg-type]
    (manifest, _) = [r.signed_xml for r in XMLVerifier().verify(signature, x509_cert=pki.seal.cert_pem().decode(),
                                                                expect_references=2)]
    uris = [r.get("URI") for r in manifest.iter("{http://www.w3.org/2000/09/xmldsig#}Reference")]
    assert f"urn:oid:{uid}" in uris


def test_a_refused_document_is_reported_with_the_registry_code(stack: tuple[Service, Service, TestPki, Path],
                                                               tmp_path: Path) -> None:
    path, uid = _new_document(tmp_path)
    stranger = path.read_bytes().replace(b'extension="279035121518989"', b'extension="100000000000001"')
    path.write_bytes(stranger)
    done = xds("submit", str(path), stack=stack, check=1)  # patient never fed
    row = next(line for line in done.stdout.splitlines() if uid in line)
    assert "refused" in row and "XDSUnknownPatientId" in row
    assert done.stdout.strip().endswith("0 sent, 1 not sent")


def test_progress_bar_and_warnings(stack: tuple[Service, Service, TestPki, Path], tmp_path: Path) -> None:
    _new_document(tmp_path)
    second, _ = _new_document(tmp_path, "IMG_CR_IMG_2024.01.xml")
    second.write_bytes(second.read_bytes().replace(b'<realmCode code="FR"/>', b""))  # a structuration problem
    done = xds("submit", "--feed", "--progress", str(tmp_path), stack=stack)
    assert "[" + "#" * 30 + "] 2/2" in done.stderr
    assert "warning: " in done.stderr and "SM-realmCode" in done.stderr
    assert "2 sent, 0 not sent" in done.stdout
    third, _ = _new_document(tmp_path)
    third.write_bytes(third.read_bytes().replace(b'<realmCode code="FR"/>', b""))
    strict = xds("submit", "--strict", str(third), stack=stack, check=1)
    assert "not sent (--strict): SM-realmCode" in strict.stdout


def test_feed_reports_the_acknowledgement(stack: tuple[Service, Service, TestPki, Path]) -> None:
    done = xds("feed", "900000000000001^^^&1.2.250.1.213.1.4.10&ISO^NH", "--name", "DOE^JANE", "--birth", "19800101",
               "--sex", "F", stack=stack)
    assert done.stdout.strip().startswith("900000000000001^^^&1.2.250.1.213.1.4.10&ISO^NH: AA")


@pytest.mark.parametrize(("args", "message"), [
    (("query", LAURENT, "--registry", "http://127.0.0.1:9/xds/registry"), "xds: error: cannot reach http://127.0.0.1:9/xds/registry"),
    (("feed", LAURENT, "--feed-address", "127.0.0.1:9"), "xds: error: cannot reach the patient feed at 127.0.0.1:9"),
    (("submit", "/nonexistent/folder"), "xds: error: /nonexistent/folder: no such file or folder"),
    (("submit", "--key", "k.pem", str(EXAMPLES)), "xds: error: --key and --cert go together"),
    (("retrieve", "1.2.3", "--repository-id", "1.2", "--repository", "http://127.0.0.1:9/r"),
     "xds: error: cannot reach http://127.0.0.1:9/r"),
    (("feed", LAURENT, "--feed-address", "nowhere"), "xds: error: the patient feed address 'nowhere' is not HOST:PORT"),
])
def test_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    done = xds(*args, check=1)
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith(message), done.stderr


def test_a_file_that_is_not_a_cda_is_a_row_of_the_table(tmp_path: Path) -> None:
    (tmp_path / "note.xml").write_bytes(b"<note>not a CDA</note>")
    done = xds("submit", str(tmp_path / "note.xml"), "--repository", "http://127.0.0.1:9/r", check=1)
    assert "note.xml  error" in done.stdout and "not an HL7 CDA ClinicalDocument" in done.stdout
