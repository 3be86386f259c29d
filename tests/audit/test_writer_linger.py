"""The write loop's linger (audit.writer, `batch_linger`; issue 15): a batch that is not full waits for more
messages, so one durable commit carries several; each message is still acknowledged only once stored."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from audit.store import AuditStore
from audit.writer import Writer
from tests.audit.test_poison import valid_item


class BatchesSeen(AuditStore):
    """The real store, noting how many messages each of its transactions took."""

    batches: list[int]

    def add_counted(self, records: Sequence[Any], rejected: Sequence[Any] = ()) -> tuple[int, int]:
        self.batches.append(len(records) + len(rejected))
        return super().add_counted(records, rejected)


async def stored_batches(tmp_path: Path, linger: float) -> tuple[list[int], list[int]]:
    store = BatchesSeen.open(f"sqlite:///{tmp_path / f'audit-{linger}.db'}")
    store.batches = []
    writer = Writer(store, 1 << 20, linger=linger)
    writer.start()
    acknowledged: list[int] = []
    try:
        await asyncio.sleep(0.05)  # the loop waits for its first message
        items = [replace(valid_item(), receipt=partial(acknowledged.append, n)) for n in range(4)]
        writer.queue.put_nowait(items[0])
        await asyncio.sleep(0.05)  # the rest come while the first waits (or is already stored)
        for item in items[1:]:
            writer.queue.put_nowait(item)
        await asyncio.wait_for(writer.queue.join(), 10)
        return store.batches, sorted(acknowledged)
    finally:
        await writer.stop(1)
        store.close()


async def test_a_batch_waits_for_more_messages_before_its_commit(tmp_path: Path) -> None:
    batches, acknowledged = await stored_batches(tmp_path, linger=0.5)
    assert batches == [4] and acknowledged == [0, 1, 2, 3]  # one commit for the four, each acknowledged
    batches, acknowledged = await stored_batches(tmp_path, linger=0)
    assert batches == [1, 3] and acknowledged == [0, 1, 2, 3]  # without it, the first goes alone
