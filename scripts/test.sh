#!/usr/bin/env bash
# The test command: the whole suite on the embedded backends, then the
# integration tests again on the real services (MariaDB primary + replica,
# Redis, FerretDB), which scripts/services.sh installs and starts.
#
#   scripts/test.sh            both runs
#   scripts/test.sh embedded   only the embedded run (no services needed)
#   scripts/test.sh real       only the real-services run
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
case $mode in all | embedded | real) ;; *) echo "usage: $0 [all|embedded|real]" >&2; exit 2 ;; esac

if [[ $mode == all || $mode == embedded ]]; then
  echo "== tests on the embedded backends" >&2
  DRSEEK_TEST_SERVICES=embedded cargo test --workspace
fi
if [[ $mode == all || $mode == real ]]; then
  bash scripts/services.sh start
  # Every test creates its own databases; drop what earlier runs left.
  bash scripts/services.sh prune
  eval "$(bash scripts/services.sh env)"
  echo "== integration tests on the real services" >&2
  DRSEEK_TEST_SERVICES=real cargo test --test api
fi
