"""A registry on a real SQL store (SQLite in memory by default) driven without HTTP, for transaction tests."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import text

from harness.builders import SubmissionBuilder
from registry import query
from registry.app import new_uuid
from registry.query import QueryOutcome
from registry.register import RegisterOutcome, RegisterSettings, lock_keys, register
from registry.remove import RemoveOutcome, remove
from registry.sql.fragments import unpack
from registry.sql.queries import QuerySql
from registry.sql.store import RegistryTx, SqlRegistry
from registry.update import UpdateOutcome, update
from registry.update import lock_keys as update_lock_keys
from xdscore.model import PatientKey
from xdscore.profiles.ihe import PROFILE
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import StoredQueryId

_clock = itertools.count(1)


def tick() -> str:
    """A strictly increasing DTM, so lastUpdateTime changes are visible."""
    return f"2025{next(_clock):010d}"


class RegistryHarness:
    def __init__(self, url: str = "sqlite://", settings: RegisterSettings | None = None, writers: int | None = None) -> None:
        self.store = SqlRegistry(url)
        self.store.migrate()
        self.settings = settings or RegisterSettings(PROFILE)
        self.writer = self.store.group_committer(writers)  # as the service writes ITI-42: group commits

    def feed(self, patient_id: str) -> None:
        key = PatientKey.parse(patient_id)
        assert key is not None
        with self.store.write() as tx:
            tx.save_patient(key, patient_id, {}, tick())

    def submit(self, builder: SubmissionBuilder, now: str | None = None) -> RegisterOutcome:
        sub = builder.submission()
        when = now or tick()

        def work(tx: RegistryTx) -> RegisterOutcome:
            outcome = register(sub, tx, self.settings, when, new_uuid)
            if outcome.changes is not None:
                tx.apply(outcome.changes, when)
            return outcome

        return self.writer.submit(work, lock_keys(sub)).result()

    def update(self, builder: SubmissionBuilder, restricted: bool = False, now: str | None = None) -> UpdateOutcome:
        sub = builder.submission()
        now = now or tick()
        with self.store.write(update_lock_keys(sub)) as tx:
            outcome = update(sub, tx, self.settings, now, new_uuid, restricted)
            if outcome.changes is not None:
                tx.apply(outcome.changes, now)
        return outcome

    def remove(self, ids: list[str]) -> RemoveOutcome:
        with self.store.write(ids) as tx:
            outcome = remove(ids, tx)
            if outcome.changes is not None:
                tx.apply(outcome.changes, tick())
        return outcome

    def ask(self, query_id: StoredQueryId, params: dict[str, Any], return_type: ReturnType = ReturnType.LEAF_CLASS,
            limit: int = 1000, guard: query.Guard | None = None) -> QueryOutcome:
        """An ITI-18 stored query answered from the store (no HTTP)."""
        with self.store.read() as tx:
            return query.answer(encode_request(query_id, params, return_type), QuerySql(tx.conn, limit), guard=guard,
                                hidden_statuses=self.settings.profile.hidden_statuses)

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.store.read() as tx:
            return list(tx.conn.execute(text(query), params))

    def stored_xml(self, where: str, **params: Any) -> str:
        """The ebRIM XML stored for the first object matching `where` (a condition on objects)."""
        return unpack(self.sql(f"select fragment from objects where {where} order by seq", **params)[0][0]).decode()

    def uuid_of(self, unique_id: str) -> str:
        rows = self.sql("select uuid from objects where unique_id = :u order by seq", u=unique_id)
        return str(rows[-1][0])

    def status_of(self, uuid: str) -> str:
        return str(self.sql("select status from objects where uuid = :u", u=uuid)[0][0]).rsplit(":", 1)[1]

    def count(self, kind: str | None = None) -> int:
        if kind:
            return int(self.sql("select count(*) from objects where kind = :k", k=kind)[0][0])
        return int(self.sql("select count(*) from objects")[0][0])
