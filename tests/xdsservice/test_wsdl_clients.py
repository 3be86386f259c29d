"""Our served WSDLs in SOAP toolkits nobody here wrote, over real HTTP from `python -m registry` and
`python -m repository` (issue 14: a Java integrator could not load the repository's WSDL).

- wsdl4j (Debian's libwsdl4j-java; the WSDL reader of Axis2 and CXF), through `java/LoadWsdl.java`: both
  WSDLs load with every schema they import, reached over HTTP. wsdl4j resolves a relative schemaLocation
  the RFC 2396 way (`?xsd=rim.xsd` from `.../xds/repository?xsd=IHEXDSB.xsd` is `.../xds/?xsd=rim.xsd`);
  the control test shows it failing on such a relative import, so the check is real. It also reads the
  operations and their wsaw:Action: exactly the actions the service answers.
- wsimport (the JAX-WS RI, Debian's jaxws), a second, independent SOAP toolkit: it loads each WSDL, compiles
  its schemas with JAXB xjc and the generated client with javac; the port type has one method per
  operation served.
Skipped when Java and those tools are absent and cannot be installed (scripts/ensure-java-tools.sh).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.services import Service, start_registry, start_repository

LOAD_WSDL = Path(__file__).parent / "java" / "LoadWsdl.java"
WSDL4J = Path("/usr/share/java/wsdl4j.jar")
EBRS = {"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0", "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
        "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0", "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
        "http://www.w3.org/XML/1998/namespace"}
NAMESPACES = {"registry": EBRS, "repository": EBRS | {"urn:ihe:iti:xds-b:2007", "urn:ihe:iti:rmd:2017"}}
SERVED = {
    "registry": {"DocumentRegistry_RegisterDocumentSet-b urn:ihe:iti:2007:RegisterDocumentSet-b",
                 "DocumentRegistry_RegistryStoredQuery urn:ihe:iti:2007:RegistryStoredQuery",
                 "DocumentRegistry_UpdateDocumentSet urn:ihe:iti:2010:UpdateDocumentSet",
                 "DocumentRegistry_RestrictedUpdateDocumentSet urn:ihe:iti:2018:RestrictedUpdateDocumentSet",
                 "DocumentRegistry_DeleteDocumentSet urn:ihe:iti:2010:DeleteDocumentSet"},
    "repository": {"DocumentRepository_ProvideAndRegisterDocumentSet-b urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
                   "DocumentRepository_RetrieveDocumentSet urn:ihe:iti:2007:RetrieveDocumentSet",
                   "DocumentRepository_RemoveDocuments urn:ihe:iti:2017:RemoveDocuments"},
}

needs_java = pytest.mark.skipif(
    shutil.which("java") is None or not WSDL4J.is_file(), reason="java / Debian's libwsdl4j-java not installed"
)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    work = Path(tmp_path_factory.mktemp("wsdl-clients"))
    registry = start_registry(work / "registry")
    try:
        repository = start_repository(work / "repository", registry.url)
    except Exception:
        registry.stop()
        raise
    yield {"registry": registry, "repository": repository}
    repository.stop()
    registry.stop()


def load_wsdl(*urls: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["java", "-cp", str(WSDL4J), str(LOAD_WSDL), *urls], capture_output=True, text=True, timeout=120)


@needs_java
@pytest.mark.parametrize("name", ["registry", "repository"])
def test_wsdl4j_loads_the_wsdl_and_every_schema_it_imports(services: dict[str, Service], name: str) -> None:
    service = services[name]
    run = load_wsdl(service.url + "?wsdl")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert {line.removeprefix("operation ") for line in lines if line.startswith("operation ")} == SERVED[name]
    schemas = [line.split() for line in lines if line.startswith("schema ")]
    assert not [line for line in lines if line.startswith("missing ")]
    assert all(url.startswith(service.url + "?xsd=") for _, url, _ in schemas)  # nothing resolved elsewhere
    assert {ns for _, _, ns in schemas} == NAMESPACES[name]


class _RelativeImports(BaseHTTPRequestHandler):
    """Serves a WSDL whose schema import is the relative `?xsd=rs.xsd` (what the repository used to serve)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.endswith("?wsdl"):
            body = (b'<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:x">'
                    b'<types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"><xsd:import '
                    b'namespace="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" schemaLocation="?xsd=rs.xsd"/>'
                    b"</xsd:schema></types></definitions>")
            self.send_response(200)
        elif self.path == "/xds/repository?xsd=rs.xsd":
            body = b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"/>'
            self.send_response(200)
        else:  # /xds/?xsd=rs.xsd: where an RFC 2396 client looks
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@needs_java
def test_control_wsdl4j_fails_on_a_relative_query_only_import() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RelativeImports)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        run = load_wsdl(f"http://127.0.0.1:{server.server_address[1]}/xds/repository?wsdl")
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 1 and "error" in run.stdout, run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("wsimport") is None, reason="wsimport (Debian's jaxws) not installed")
@pytest.mark.parametrize(("name", "port_type"), [("registry", "DocumentRegistryPortType"),
                                                 ("repository", "DocumentRepositoryPortType")])
def test_wsimport_loads_and_compiles_the_wsdl(services: dict[str, Service], name: str, port_type: str,
                                              tmp_path: Path) -> None:
    service = services[name]
    run = subprocess.run(["wsimport", "-extension", "-quiet", "-d", str(tmp_path), service.url + "?wsdl"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    compiled = tmp_path / "ihe" / "iti" / "xds_b" / "_2007" / f"{port_type}.class"
    assert compiled.is_file()
    javap = subprocess.run(["javap", "-cp", str(tmp_path), f"ihe.iti.xds_b._2007.{port_type}"],
                           capture_output=True, text=True, timeout=120)
    methods = [line for line in javap.stdout.splitlines() if "public abstract" in line]
    assert len(methods) == len(SERVED[name]), javap.stdout
