#!/usr/bin/env bash
# configure-host.sh: the node's YAIM site file, etc/site-info.def (docs/kits.md): the
# channel agents of even-numbered nodes and the VO agents of odd ones (as CERN split
# them between fts101/fts102 and fts105), each node running two daemons. The local-mode
# fault FAIL_HEALTH_VERSIONS is not supported (kit.json hostFaults).
# Inputs (environment): KIT_AGENT_ROOT, KIT_HOST_NAME.
set -euo pipefail
mkdir -p -- "$KIT_AGENT_ROOT/etc"
n=${KIT_HOST_NAME##*-}
if ((10#$n % 2 == 0)); then
  agents='CHANNELS="CERN-RAL CERN-FNAL"'
else
  agents='VOS="atlas cms"'
fi
printf '# site-info.def of %s\n%s\nPOLL_INTERVAL_MS=100\n' "$KIT_HOST_NAME" "$agents" \
  >"$KIT_AGENT_ROOT/etc/site-info.def"
