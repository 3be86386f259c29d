"""Bulk loader of the audit sink's PostgreSQL store (issue 20): N realistic events over M months, with COPY.

What it makes: a population of 0.7 N patients (the DMP's ~70 million patients scaled to N = 10^8 events);
each draws a long-tailed number of events (none for 45 %, else a Pareto(1.45) count capped at 3,000: most
have one or two, a few thousands), as actions at uniform times over the M months ending now: a submission
(ITI-41 at the repository and ITI-42 at the registry, one submission set), a consultation (ITI-18, then an
ITI-43 retrieving 1 to 3 documents six times in ten) or, rarely, a patient feed update (ITI-8, no human).
Each action is a professional's (the patient's regular one six times in ten; médecin, infirmier or
pharmacien; 0.2 % in emergency mode, bris de glace), with the VIHF identity in the message. The rows are
the sink's own (`bench.audit_events`): the event with the AuditMessage as received, its patient and
documents, and the DMP notifications the sink derives (first access of a professional, emergency access).

How: the sink's migrations make the schema; the months loaded are tables not yet attached
(`audit.partitions.create_detached`), filled by COPY from `jobs` processes (each a chunk of patients at a
time), indexed per month in parallel (`index_detached`) and attached (`attach`); then the event and
notification sequences, `audit_count` and the months ahead are set as the sink keeps them. The loader
stops (and says so) when the disk's free space falls under `min_free_gb`.
"""

from __future__ import annotations

import base64
import datetime as dt
import multiprocessing
import random
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from sqlalchemy import create_engine

from audit import partitions
from audit.store import AuditStore
from bench import audit_events as ev

CHUNK = 20_000  # patients per task
EMPTY_SHARE, PARETO, MAX_EVENTS = 0.45, 1.45, 3000
SUBMISSION, FEED = 0.40, 0.02  # shares of actions; the rest are consultations
RETRIEVE, EMERGENCY, REGULAR = 0.6, 0.002, 0.6
LAST = ("MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
        "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD")
FIRST = ("Jean", "Marie", "Pierre", "Nathalie", "Michel", "Isabelle", "Philippe", "Sylvie", "Alain", "Catherine",
         "Nicolas", "Sophie", "Christophe", "Valérie", "Laurent", "Sandrine", "Julien", "Céline", "Eric", "Anne")


class DiskLow(Exception):
    pass


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def pid(n: int) -> str:
    """The n-th patient's id (a 13-digit NIR-like number)."""
    return f"{1_000_000_000_000 + n:013d}"


def plan(events: int, seed: int) -> list[int]:
    """Events per patient, over 0.7 N patients (more if the draw falls short), summing to exactly N."""
    rng = random.Random(seed)
    counts: list[int] = []
    total = 0
    population = max(1, int(events * 0.7))
    while total < events:
        k = 0 if rng.random() < EMPTY_SHARE else min(MAX_EVENTS, int(rng.paretovariate(PARETO)))
        k = min(k, events - total) if len(counts) >= population - 1 or total + k > events else k
        counts.append(k)
        total += k
    return counts


@dataclass(frozen=True)
class Span:
    start: dt.datetime  # first instant of the oldest month
    end: dt.datetime  # now

    @property
    def months(self) -> list[dt.date]:
        out, month = [], partitions.month_of(self.start)
        while month <= partitions.month_of(self.end):
            out.append(month)
            month = partitions.add_months(month, 1)
        return out


def span(months: int, now: dt.datetime | None = None) -> Span:
    now = now or dt.datetime.now(dt.UTC)
    return Span(dt.datetime.combine(partitions.add_months(partitions.month_of(now), 1 - months), dt.time(),
                                    dt.UTC), now)


class Users:
    """A pool of professionals: id (RPPS-like), name, role, organisation (8 per organisation)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def values(self, u: int) -> tuple[int, dict[str, str]]:
        org = u // 8
        role = 0 if u % 10 < 7 else 1 if u % 10 < 9 else 2
        return role, {
            "NAMEID": f"8100{u:07d}", "SUBJECT": f"{LAST[u % 20]} {FIRST[(u // 20) % 20]}",
            "ORGID": f"1.2.250.1.71.4.2.2|{100_000_000 + org}", "ORG": f"Etablissement {org}",
            "IP": f"10.{org % 250}.{(org // 250) % 250}.{u % 8 + 10}",
        }


def _patient_events(rng: random.Random, n: int, k: int, when: Span, users: Users, query: ev.Template,
                    serial: Iterator[int]) -> list[tuple[dt.datetime, tuple[str, int, str, int], dict[str, str]]]:
    """The k events of patient n (time, kind, marker values), unsorted."""
    out: list[tuple[dt.datetime, tuple[str, int, str, int], dict[str, str]]] = []
    seconds = (when.end - when.start).total_seconds()
    regular = rng.randrange(users.size)
    patient = pid(n)
    cx = f"{patient}^^^&{ev.AUTHORITY}&ISO"
    while len(out) < k:
        at = when.start + dt.timedelta(seconds=rng.random() * seconds)
        node = rng.randrange(4)
        common = {"PID": patient, "HOST": f"dmp-node-{node}", "PROC": str(2100 + node),
                  "PORT": str(rng.randrange(40000, 60000))}
        r = rng.random() if k - len(out) > 1 else FEED + SUBMISSION  # one event left: a query alone
        if r < FEED:
            out.append((at, ("ITI-8", -1, "", 0), {**common, "IP": "10.0.0.8",
                                                    "CTL": base64.b64encode(f"MSG{next(serial):012d}".encode()).decode()}))
            continue
        role, person = users.values(regular if rng.random() < REGULAR else rng.randrange(users.size))
        mode = "bris_de_glace" if rng.random() < EMERGENCY else "normal"
        values = {**common, **person}
        if r < FEED + SUBMISSION:
            ss = {"SS": f"1.2.250.1.213.1.1.9.3.{next(serial)}"}
            out.append((at, ("ITI-41", role, mode, 0), {**values, **ss}))
            out.append((at + dt.timedelta(milliseconds=40 + rng.randrange(60)), ("ITI-42", role, mode, 0), {**values, **ss}))
            continue
        out.append((at, ("ITI-18", role, mode, 0),
                    {**values, "QUERY": base64.b64encode(query.render({"PID": cx}).encode()).decode()}))
        if k - len(out) > 0 and rng.random() < RETRIEVE:
            docs = rng.choice((1, 1, 1, 2, 2, 3))
            out.append((at + dt.timedelta(milliseconds=150 + rng.randrange(300)), ("ITI-43", role, mode, docs),
                        {**values, **{f"DOC{i}": f"1.2.250.1.213.1.1.9.2.{n}.{rng.randrange(1, 40)}" for i in range(docs)}}))
    return [e for e in out if e[0] <= when.end]


@dataclass(frozen=True)
class Task:
    chunk: int
    first_patient: int
    counts: tuple[int, ...]
    first_id: int
    seed: int
    when: Span
    users: int
    url: str
    min_free_gb: float


_KINDS: dict[tuple[str, int, str, int], ev.Kind] = {}


def generate(task: Task) -> ev.Rows:
    """The rows of one chunk of patients: its events in time order take ids from `first_id`."""
    if not _KINDS:
        _KINDS.update(ev.kinds())
    rng = random.Random(task.seed * 1_000_003 + task.chunk)
    serial = iter(range(task.first_id * 4, 10**18))
    users = Users(task.users)
    query = ev.Template(ev.query_request("QXPIDQX").decode())
    rows = ev.Rows({}, {}, {}, {})
    event_id = task.first_id
    for offset, k in enumerate(task.counts):
        if not k:
            continue
        events = sorted(_patient_events(rng, task.first_patient + offset, k, task.when, users, query, serial),
                        key=lambda e: e[0])
        seen: set[str] = set()
        for moment, key, values in events:
            kind = _KINDS[key]
            first = kind.human and values["NAMEID"] not in seen
            seen.add(values.get("NAMEID", ""))
            ev.render(kind, event_id, moment, values, rows, first)
            event_id += 1
        # a patient's events that fell after `now` were dropped: their ids stay unused
        event_id += k - len(events)
    return rows


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for i in range(0, len(lines), 2000):
            copy.write("\n".join(lines[i:i + 2000]) + "\n")


def load_chunk(task: Task) -> tuple[int, int]:
    """Generate and COPY one chunk (in a worker process); its events and notifications."""
    if shutil.disk_usage("/").free < task.min_free_gb * 1e9:
        raise DiskLow(f"free disk space under {task.min_free_gb} GB: loader stopped")
    rows = generate(task)
    with psycopg.connect(task.url) as conn:
        for table, columns, months in (("audit_event", ev.EVENT_COLUMNS, rows.events),
                                       ("audit_event_patient", ev.PATIENT_COLUMNS, rows.patients),
                                       ("audit_event_document", ev.DOCUMENT_COLUMNS, rows.documents),
                                       ("audit_notification", ev.NOTIFICATION_COLUMNS, rows.notifications)):
            for month, lines in months.items():
                _copy(conn, partitions.partition_name(table, month), columns, lines)
    return sum(map(len, rows.events.values())), sum(map(len, rows.notifications.values()))


def _index(args: tuple[str, str, dt.date]) -> None:
    url, table, month = args
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        partitions.index_detached(conn, table, month)
    engine.dispose()


@dataclass
class Loaded:
    events: int
    notifications: int
    patients: int  # patients with at least one event
    typical: list[str]  # patient ids with 1 to 3 events
    heavy: list[tuple[str, int]]  # the patients with the most events, and their counts
    seconds: float
    when: Span


def load(url: str, events: int, months: int, jobs: int = 2, seed: int = 1, min_free_gb: float = 15.0,
         progress: bool = True) -> Loaded:
    """Fill a fresh audit database (URL as the sink takes it) with `events` events over `months` months."""
    started = time.monotonic()
    when = span(months)
    store = AuditStore.open(url)  # the sink's migrations and months ahead
    store.close()
    raw = psycopg_url(url)
    with psycopg.connect(raw, autocommit=True) as conn:
        for table in reversed(partitions.TABLES):  # months created empty by the sink's start: made again, detached
            for month in when.months:
                conn.execute(f"DROP TABLE IF EXISTS {partitions.partition_name(table, month)}")
    engine = create_engine(url)
    with engine.begin() as sa_conn:
        for table in partitions.TABLES:
            for month in when.months:
                partitions.create_detached(sa_conn, table, month)
    counts = plan(events, seed)
    users = max(1000, len(counts) // 100)
    tasks, first_id = [], 1
    for c in range(0, len(counts), CHUNK):
        part = tuple(counts[c:c + CHUNK])
        tasks.append(Task(c // CHUNK, c, part, first_id, seed, when, users, raw, min_free_gb))
        first_id += sum(part)
    loaded = notes = 0
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for n, notified in pool.imap_unordered(load_chunk, tasks):
            loaded, notes = loaded + n, notes + notified
            if progress:
                rate = loaded / (time.monotonic() - started)
                print(f"\r  loaded {loaded:,} / {events:,} events ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        copied = time.monotonic()
        pool.map(_index, [(url, t, m) for m in when.months for t in partitions.TABLES])
    with engine.begin() as sa_conn:
        for month in when.months:
            for table in partitions.TABLES:
                partitions.attach(sa_conn, table, month)
        sa_conn.exec_driver_sql("SELECT setval('audit_event_id_seq', %(n)s)", {"n": first_id})
        sa_conn.exec_driver_sql("SELECT setval('audit_notification_id_seq', %(n)s)", {"n": 2 * first_id + 2})
        sa_conn.exec_driver_sql("UPDATE audit_count SET value = %(n)s WHERE name = 'events'", {"n": loaded})
    engine.dispose()
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) audit_event, audit_event_patient, audit_event_document, audit_notification")
    if progress:
        print(f"  indexed and attached in {time.monotonic() - copied:.0f} s", file=sys.stderr)
    ranked = sorted(range(len(counts)), key=counts.__getitem__, reverse=True)
    rng = random.Random(seed + 7)
    typical = [pid(i) for i in rng.sample(range(len(counts)), min(len(counts), 20_000)) if 1 <= counts[i] <= 3][:2000]
    return Loaded(loaded, notes, sum(1 for k in counts if k), typical, [(pid(i), counts[i]) for i in ranked[:5]],
                  time.monotonic() - started, when)
