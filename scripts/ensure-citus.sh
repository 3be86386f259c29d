#!/usr/bin/env bash
# Make sure the Citus extension (distributed PostgreSQL) is installed for the tests that run the registry on a
# coordinator and two workers (harness/citus.py). Citus has no Debian package: ../shared/vendor/ holds its
# source and build script, run here (it is idempotent: a no-op once citus.so is installed). Without that
# folder, or when the build cannot run here, the Citus tests skip with the reason; nothing here starts a server.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/../shared/vendor/build-citus.sh
installed() { ls /usr/lib/postgresql/*/lib/citus.so >/dev/null 2>&1; }
if [ ! -f "$build" ]; then
  installed || echo "Citus is not installed and $build is absent: the Citus tests will be skipped" >&2
  exit 0
fi
if ! installed && [ "$(id -u)" != 0 ]; then
  echo "Citus is not installed and its build needs root (run $build as root): the Citus tests will be skipped" >&2
  exit 0
fi
installed || echo "building Citus with $build (about 3 minutes)"
bash "$build" >/dev/null || echo "the Citus build failed (run $build to see why): the Citus tests will be skipped" >&2
