"""ATNA audit: the sender every service spools its audit messages through, and the audit record repository.

`xdsservice.audit_sender.AuditSender` is the one entry point for emitters; `python -m audit serve` runs the sink
(syslog TLS 6514 and UDP 5514, HTTP API 8083). See docs/audit.md.
"""
