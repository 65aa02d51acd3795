#!/usr/bin/env bash
# configure-host.sh: writes the demo agent's host settings, conf/agent.env
# (docs/kits.md): its port, host id and the local-mode faults. Keeps the
# SCHEDULER_URL the workload driver wrote, so clearing a fault does not disconnect the
# agent from the scheduler.
# Inputs (environment): KIT_AGENT_ROOT, KIT_PORT, KIT_HOST_ID,
#   KIT_FAIL_HEALTH_VERSIONS, KIT_HANG_START_VERSIONS.
set -euo pipefail
conf=$KIT_AGENT_ROOT/conf/agent.env
mkdir -p -- "${conf%/*}"
scheduler=''
if [[ -f $conf ]]; then
  while IFS='=' read -r key value; do
    [[ $key != SCHEDULER_URL ]] || scheduler=$value
  done <"$conf"
fi
{
  printf 'AGENT_PORT=%s\nHOST_ID=%s\n' "$KIT_PORT" "$KIT_HOST_ID"
  [[ -z $scheduler ]] || printf 'SCHEDULER_URL=%s\n' "$scheduler"
  [[ -z ${KIT_FAIL_HEALTH_VERSIONS:-} ]] || printf 'FAIL_HEALTH_VERSIONS=%s\n' "$KIT_FAIL_HEALTH_VERSIONS"
  [[ -z ${KIT_HANG_START_VERSIONS:-} ]] || printf 'HANG_START_VERSIONS=%s\n' "$KIT_HANG_START_VERSIONS"
} >"$conf.tmp"
mv -f -- "$conf.tmp" "$conf"
