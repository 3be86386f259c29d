"""The throwaway Citus cluster: a coordinator and two workers, a database distributed over both."""

from __future__ import annotations

import psycopg
from sqlalchemy import make_url


def _connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True)


def test_a_table_distributed_by_patient_spreads_over_both_workers_and_one_patient_is_one_shard(citus_url: str) -> None:
    with _connect(citus_url) as conn:
        workers = conn.execute("SELECT node_name, node_port FROM citus_get_active_worker_nodes()").fetchall()
        assert len(workers) == 2
        conn.execute("CREATE TABLE t (patient text, id text, PRIMARY KEY (patient, id))")
        conn.execute("SELECT create_distributed_table('t', 'patient')")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (%s, %s)", [(f"p{i}", f"{i}") for i in range(200)])
        placements = conn.execute(
            "SELECT DISTINCT nodeport FROM pg_dist_shard JOIN pg_dist_placement USING (shardid)"
            " JOIN pg_dist_node USING (groupid) WHERE logicalrelid = 't'::regclass").fetchall()
        assert {p for (p,) in placements} == {port for _, port in workers}
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT * FROM t WHERE patient = 'p7'"))
        assert "Task Count: 1" in plan
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (200,)
