"""DMP access rules on the repository's transactions (XDS_PROFILE=dmp): TD2.1 on ITI-41, TD3.2 on ITI-43.

The registry decides (it holds the metadata and reads the patient records: `registry.access`); the
repository asks it on its caller's behalf (`xdscore.access.forward`):
- ITI-41: before anything is stored, the rules that need no patient record (the caller's column may feed,
  rule 12; it is an author of every document, rule 4) are checked here, so a refused submission never
  reaches the blob store; the ITI-42 then carries the caller to the registry, which checks the rest
  (the DMP open, blocked, oppositions) and whose refusal removes what this submission stored.
- ITI-43: one ITI-18 GetDocuments by uniqueId, decided by the registry as TD3.2; a document it does not
  return is answered XDSDocumentUniqueIdError as if it were not here (rule 20), a refusal of the call (no
  DMP, no authorisation, blocked...) refuses every document with the registry's reason. So ITI-43 refuses
  exactly what the registry would hide.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from xdscore.access.caller import caller_of
from xdscore.access.decide import decide
from xdscore.access.entry import access_entry
from xdscore.access.matrix import Operation
from xdscore.access.record import PatientRecord
from xdscore.access.rules import Effect
from xdscore.ebrim import submit_objects
from xdscore.errors import Violation
from xdscore.principal import Principal
from xdscore.vocabulary import NS, ErrorCode

ANONYMOUS = "the DMP takes no anonymous call: send a VIHF (WS-Security SAML assertion)"


def feed_precheck(principal: Principal | None, provide_request: etree._Element, now: datetime | None = None) -> list[Violation]:
    """The TD2.1 rules that need no patient record, on an ITI-41 body (rules 4, 12; the caller's column)."""
    if principal is None:
        return [Violation(ErrorCode.XDSRegistryError, ANONYMOUS)]
    request = provide_request.find(f"{{{NS.LCM}}}SubmitObjectsRequest")
    if request is None:
        return []  # the transaction's own checks answer a malformed request
    sub = submit_objects.read(request)
    ss = sub.submission_set
    if ss is None or not ss.patient_id:
        return []
    # A provisional open record: the registry reads the real one (open, blocked, oppositions) at ITI-42.
    record = PatientRecord(ss.patient_id)
    caller = caller_of(principal, record)
    when = now or datetime.now(UTC)
    out = []
    for de in sub.document_entries:
        decision = decide(caller, record, access_entry(de, when), Operation.FEED, when)
        if decision.effect is Effect.REFUSE:
            out.append(Violation(ErrorCode.XDSRegistryError,
                                 f"DMP access refused (rule {decision.rule}, {decision.source}): {decision.reason}",
                                 de.entry_uuid))
    return out
