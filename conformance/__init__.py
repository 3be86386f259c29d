"""Conformance kit: replays the NIST XDS Toolkit test plans against any XDS.b Registry / Repository.

It talks to the actors under test over the network only (SOAP 1.2, MTOM, MLLP) and imports nothing from
`registry/` or `repository/`. See docs/conformance.md.
"""
