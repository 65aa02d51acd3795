#!/usr/bin/env bash
# start-host.sh: the benchmark kit's host start (docs/kits.md). Its hosts run no agent
# (see install-host.sh), so there is nothing to start: this does nothing.
set -euo pipefail
