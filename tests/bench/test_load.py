"""The bulk loader (`bench.load`): what it loads is stored exactly as the registry stores what it registers,
and a small load fills every table with a long tail of documents per patient."""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest

from bench import indexes, load, metadata
from registry.sql import fragments
from registry.sql.writes import COLUMNS
from tests.registry.helpers import RegistryHarness
from xdscore.queries import ReturnType
from xdscore.vocabulary import StoredQueryId


def _rows(url: str, unpacked: bool = False) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of the registry's tables but `seq` (an insertion counter); fragments `unpacked` or as stored."""
    out = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for name, columns in COLUMNS.items():
            rows = conn.execute(f"SELECT {', '.join(columns)} FROM {name}")
            out[name] = {tuple(fragments.unpack(v) if unpacked and isinstance(v, bytes) else v for v in r) for r in rows}
    return out


def test_a_loaded_patient_is_stored_as_a_registered_one(pg_server) -> None:  # type: ignore[no-untyped-def]
    """Two submissions of one patient (the second replacing a document of the first and filing itself in a new
    Folder) registered through ITI-42, and the same two loaded: every row of every table is equal."""
    if pg_server is None:
        pytest.skip("needs the session's own PostgreSQL server (two databases)")
    registered, loaded = pg_server.create_database("load_registered"), pg_server.create_database("load_loaded")
    rng = random.Random(5)
    gen = metadata.Generator(1, 15.0)
    first = metadata.build_template(metadata.draw(rng, 2), folder=False, replaces=False)
    second = metadata.build_template(metadata.draw(rng, 1), folder=True, replaces=True)
    v1 = gen.values(rng, 7, first)
    v2 = gen.values(rng, 7, second)
    v2["R"] = v1["DE0"]

    reg = RegistryHarness(registered)
    reg.feed(metadata.patient_cx(7))
    for template, values in ((first, v1), (second, v2)):
        outcome = reg.submit(metadata.build(template.codes, template.folder, template.replaces, values.__getitem__), now=metadata.NOW)
        assert outcome.accepted, outcome.violations
    reg.store.dispose()

    out: dict[str, list[str]] = {name: [] for name in ("patients", *COLUMNS)}
    out["patients"].append(metadata.patient_line(7))
    objects: list[str] = []
    metadata.render(first, v1, objects, out)
    metadata.deprecate(objects, v1["DE0"])
    metadata.render(second, v2, objects, out)
    out["objects"] = objects
    RegistryHarness(loaded).store.dispose()  # migrated, empty
    with psycopg.connect(loaded.replace("postgresql+psycopg://", "postgresql://")) as conn:
        load.copy_batch(conn, {name: ("\n".join(lines) + "\n").encode() if lines else b"" for name, lines in out.items()})

    want, got = _rows(registered), _rows(loaded)
    assert want["objects"] and want["folders"] and want["registry_ids"]
    assert {name: len(rows) for name, rows in got.items()} == {name: len(rows) for name, rows in want.items()}
    assert got == want

    # Packed at DEFLATE level 1 (the loader's fast option), the same fragments in the same stored format: the
    # rows hold other bytes, and the registry reads them back to the same FindDocuments answer.
    fast = pg_server.create_database("load_fast")
    RegistryHarness(fast).store.dispose()
    out = {name: [] for name in ("patients", *COLUMNS)}
    out["patients"].append(metadata.patient_line(7))
    objects = []
    pack_fast = fragments.packer(1)
    metadata.render(first, v1, objects, out, pack_fast)
    metadata.deprecate(objects, v1["DE0"])
    metadata.render(second, v2, objects, out, pack_fast)
    out["objects"] = objects
    with psycopg.connect(fast.replace("postgresql+psycopg://", "postgresql://")) as conn:
        load.copy_batch(conn, {name: ("\n".join(lines) + "\n").encode() if lines else b"" for name, lines in out.items()})
    assert _rows(fast) != want and _rows(fast, unpacked=True) == _rows(registered, unpacked=True)
    find = {"$XDSDocumentEntryPatientId": metadata.patient_cx(7), "$XDSDocumentEntryStatus": [metadata.APPROVED, metadata.DEPRECATED]}
    answers = [RegistryHarness(url).ask(StoredQueryId.FindDocuments, find, ReturnType.LEAF_CLASS) for url in (registered, fast)]
    assert not answers[0].violations and answers[0].response.count(b"<rim:ExtrinsicObject") == 3
    assert answers[1].response == answers[0].response

    # The loader's own path: the templates compiled, their fragments spliced from one packing each
    # (bench.splice): other bytes again, the same unpacked fragments and the same answer.
    spliced = pg_server.create_database("load_spliced")
    RegistryHarness(spliced).store.dispose()
    out = {name: [] for name in ("patients", *COLUMNS)}
    out["patients"].append(metadata.patient_line(7))
    objects = []
    metadata.render_compiled(metadata.compile_template(first), dict(v1), objects, out)
    metadata.deprecate(objects, v1["DE0"])
    metadata.render_compiled(metadata.compile_template(second), dict(v2), objects, out)
    out["objects"] = objects
    with psycopg.connect(spliced.replace("postgresql+psycopg://", "postgresql://")) as conn:
        load.copy_batch(conn, {name: ("\n".join(lines) + "\n").encode() if lines else b"" for name, lines in out.items()})
    assert _rows(spliced) != want and _rows(spliced, unpacked=True) == _rows(registered, unpacked=True)
    answer = RegistryHarness(spliced).ask(StoredQueryId.FindDocuments, find, ReturnType.LEAF_CLASS)
    assert answer.response == answers[0].response


def test_a_small_load_fills_every_table_with_a_long_tail_of_documents(pg_url: str) -> None:
    """(On Citus the same COPY goes through the coordinator: `python -m bench.scale --backend citus`.)"""
    url = pg_url
    summary = load.load(url, 3_000, per_patient=15.0, seed=2, batch_entries=1_000, progress=False)
    assert summary["entries"] == 3_000 and summary["rows"]["documents"] == 3_000
    counts = _counts(url)
    assert counts["documents"] == 3_000
    assert all(counts[name] > 0 for name in ("patients", "objects", "submission_sets", "folders", "associations", "registry_ids"))
    per_patient = _per_patient(url)
    assert min(per_patient) == 1 and max(per_patient) >= 5 * (sum(per_patient) / len(per_patient))  # a long tail
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        deprecated = conn.execute("SELECT count(*) FROM objects WHERE kind = 'DE' AND status LIKE '%Deprecated'").fetchone()
        replacements = conn.execute("SELECT count(*) FROM associations WHERE association_type LIKE '%RPLC'").fetchone()
    assert deprecated is not None and replacements is not None and deprecated[0] == replacements[0] > 0
    assert load.disk_bytes(url) > 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        # VACUUM on every partition, and each partitioned table's own statistics (ANALYZE of the parent)
        unvacuumed = conn.execute("SELECT relname FROM pg_stat_user_tables WHERE relname ~ '^(objects|documents)_'"
                                  " AND last_vacuum IS NULL").fetchall()
        analyzed = {r[0] for r in conn.execute("SELECT DISTINCT tablename FROM pg_stats WHERE inherited")}
    assert unvacuumed == [] and {"objects", "documents", "registry_ids", "associations"} <= analyzed


def test_a_load_into_an_empty_database_builds_its_keys_and_indexes_at_the_end(pg_url: str) -> None:
    """The load strips the keys and indexes of an empty database and builds each again from its definition;
    a second load into the now filled database keeps them (and they hold: its uniqueness is checked)."""
    url = pg_url
    load.load(url, 10, progress=False)  # migrated, with a few rows
    driver = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(driver, autocommit=True) as conn:
        wanted = indexes.definitions(conn, list(load.TABLE_COLUMNS))
        for name in reversed(load.TABLE_COLUMNS):
            conn.execute(f"TRUNCATE {name}")
    assert len(wanted) >= 20 and any(ix.constraint for ix in wanted)
    summary = load.load(url, 2_000, seed=3, batch_entries=500, jobs=2, progress=False)
    assert summary["indexes_rebuilt"] == len(wanted) and summary["entries"] == 2_000
    with psycopg.connect(driver, autocommit=True) as conn:
        assert _shape(indexes.definitions(conn, list(load.TABLE_COLUMNS))) == _shape(wanted)
        # the partitions have them too (a partitioned table's index is built on each)
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'objects_%'").fetchone()[0] >= 16 * 5
    summary = load.load(url, 500, seed=3, progress=False, first_patient=summary["next_patient"])
    assert summary["indexes_rebuilt"] == 0 and _counts(url)["documents"] == 2_500
    with pytest.raises(psycopg.errors.UniqueViolation):  # patients 0.. again: the key, built, holds
        load.load(url, 10, seed=3, progress=False)


def test_a_load_into_an_empty_citus_database_builds_the_distributed_keys_and_indexes(citus_url: str) -> None:
    """On a Citus coordinator the keys and indexes of the distributed tables come off and back the same way
    (Citus builds them on every shard)."""
    from registry.sql.store import SqlRegistry

    store = SqlRegistry(citus_url)
    store.migrate()
    store.dispose()
    driver = citus_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(driver, autocommit=True) as conn:
        wanted = indexes.definitions(conn, list(load.TABLE_COLUMNS))
    summary = load.load(citus_url, 300, seed=4, batch_entries=100, jobs=2, progress=False)
    assert summary["indexes_rebuilt"] == len(wanted) >= 20
    with psycopg.connect(driver, autocommit=True) as conn:
        assert _shape(indexes.definitions(conn, list(load.TABLE_COLUMNS))) == _shape(wanted)
        shard_indexes = conn.execute("SELECT sum(result::int) FROM run_command_on_workers("
                                     "$$SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'ix_objects_patient%'$$)").fetchone()[0]
    assert shard_indexes >= 2  # on the workers' shards of objects
    assert _counts(citus_url)["documents"] == 300


def test_a_load_stops_before_the_disk_fills(pg_url: str) -> None:
    with pytest.raises(load.LowDisk, match="--min-free-gb"):
        load.load(pg_url, 1_000, progress=False, min_free_gb=1e9)
    assert _counts(pg_url)["documents"] == 0


def _shape(defs: list[indexes.Index]) -> list[tuple[str, str, str, bool, bool]]:
    """Each key or index as built (its predicate's text aside: PostgreSQL prints a rebuilt one's casts otherwise)."""
    return [(ix.table, ix.name, ix.create.split(" WHERE ")[0], " WHERE " in ix.create, ix.constraint) for ix in defs]


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return {name: int(conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]) for name in ("patients", *COLUMNS)}  # type: ignore[index]


def _per_patient(url: str) -> list[int]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return [int(r[0]) for r in conn.execute("SELECT count(*) FROM documents GROUP BY patient")]
