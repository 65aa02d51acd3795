#!/usr/bin/env bash
# start-host.sh: starts the FTA-like agent daemons of a node of a kept fleet
# (docs/kits.md), as the service would at boot: every configured daemon not running
# (transfer-agents start skips running ones), from the installed package.
# Inputs (environment): KIT_AGENT_ROOT, AR_HOST_ROOT.
set -euo pipefail
exec "$KIT_AGENT_ROOT/usr/sbin/transfer-agents" start
