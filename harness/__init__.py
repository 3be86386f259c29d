"""What the tests and the benchmarks share: submission builders (`builders`), ITI-41 requests on the wire
(`wire`), the real services started as processes on free ports (`services`), a throwaway PostgreSQL
cluster (`pgserver`). Not shipped (setup.cfg excludes it with tests and bench).
"""
