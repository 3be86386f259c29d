"""XDS.b clients for tests, the conformance kit and outbound calls (never used on the server side).

- `xdsclient.zeepclient`: zeep clients built from the project's WSDLs, with the zeep quirks fixed and an
  MTOM transport for the repository.
- `xdsclient.soapclient`: a plain lxml + httpx client that posts a prepared body (SOAP or MTOM) and
  returns the parsed response envelope or fault, for exact control over the bytes.
- `xdsclient.xop`: the client-side MTOM/XOP packaging both use.
"""
