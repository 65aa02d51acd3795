#!/usr/bin/env bash
# start-host.sh: starts the Control-M/Agent-like agent of a host of a kept fleet
# (docs/kits.md): the listener and the tracker of the release `exe` points to, each
# unless it runs already (ctmag start skips a running daemon).
# Inputs (environment): KIT_AGENT_ROOT, AR_HOST_ROOT.
set -euo pipefail
exec "$KIT_AGENT_ROOT/exe/ctmag" start
