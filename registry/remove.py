"""ITI-62 Remove Metadata (Delete Document Set): the Document Registry's side (ITI TF-2b 3.62.4.1.3).

`remove(ids, store)` is a pure function: it checks that every object named exists
(UnresolvedReferenceException), that no association left in the registry would point at a removed
object (ReferencesExistException), and that no object left in the registry would lose its last
association (XDSUnreferencedObjectException, the metadata model's rule that every DocumentEntry, Folder
and SubmissionSet is reached from a SubmissionSet), then returns the `Changes` that delete them all in
one transaction, or nothing. The same rules as the NIST registry simulator (RMSim).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.store import Changes, RegistryReader, StoredAssociation
from xdscore.errors import Violation
from xdscore.model import ObjectKind
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import ErrorCode


@dataclass
class RemoveOutcome:
    violations: list[Violation]
    changes: Changes | None = None
    patients: list[str] = field(default_factory=list)  # of the objects removed (str(PatientKey))
    removed: list[tuple[str, ObjectKind]] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.changes is not None


@RULES.rule("RMD-references", ErrorCode.UnresolvedReferenceException, ErrorCode.ReferencesExistException,
            ref="ITI TF-2b 3.62.4.1.3", family="ITI-62 registry")
def remove(ids: list[str], store: RegistryReader) -> RemoveOutcome:
    out = RemoveOutcome(violations=[])
    refs = store.refs(ids)
    for i in ids:
        if i not in refs:
            out.violations.append(Violation(ErrorCode.UnresolvedReferenceException,
                                            f"{i} is not in the registry", i))
    if out.violations:
        return out
    doomed = set(ids)
    touching = store.associations_touching(ids)
    # Associations of removed objects that stay; their other ends are needed for the second rule.
    staying = [a for a in touching if a.entry_uuid not in doomed]
    for a in staying:
        for end in (a.source, a.target):
            if end in doomed:
                kind = refs[end].kind.value
                out.violations.append(Violation(
                    ErrorCode.ReferencesExistException,
                    f"{kind} {end} is referenced by Association {a.entry_uuid} "
                    f"({a.association_type.rsplit(':', 1)[-1]}), which is not removed", end))
    removed_links = [a for a in touching if a.entry_uuid in doomed]
    out.violations += _left_unreferenced(removed_links, doomed, store)
    if out.violations:
        return out
    out.changes = Changes(removed=list(ids))
    out.patients = sorted({r.patient for r in refs.values() if r.patient})
    out.removed = [(i, refs[i].kind) for i in ids]
    return out


@RULES.rule("RMD-unreferenced", ErrorCode.XDSUnreferencedObjectException, ref="ITI TF-2b 3.62.4.1.3",
            family="ITI-62 registry")
def _left_unreferenced(removed: list[StoredAssociation], doomed: set[str], store: RegistryReader) -> list[Violation]:
    """An object that stays must keep at least one association (TF-2b 3.62.4.1.3: XDSUnreferencedObjectException)."""
    ends = {e for a in removed for e in (a.source, a.target) if e not in doomed}
    if not ends:
        return []
    still: set[str] = set()
    for a in store.associations_touching(ends):
        if a.entry_uuid not in doomed:
            still.update((a.source, a.target))
    return [
        Violation(ErrorCode.XDSUnreferencedObjectException,
                  f"{end} would be left without any association referencing it", end)
        for end in sorted(ends - still)
    ]
