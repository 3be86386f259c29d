"""Shared service plumbing: configuration loading, the SOAP-over-HTTP ASGI adapter, process runner.

Only the I/O side lives here; every protocol decision is in `xdscore`, every transaction in its actor.
"""
