#!/usr/bin/env bash
# start-host.sh: starts the demo agent of a host of a kept fleet (docs/kits.md): the
# listener of the release `current` points to, unless it runs already (agentctl start
# then does nothing). A host whose installed release has the `hang` fault
# (KIT_HANG_START_VERSIONS; a switch killed mid-cutover leaves the link there) is left
# down, as that start never returns: the next switch on the host recovers the cutover.
# Inputs (environment): KIT_AGENT_ROOT, KIT_HANG_START_VERSIONS, AR_HOST_ROOT.
set -euo pipefail
read -r version <"$KIT_AGENT_ROOT/current/VERSION"
if [[ ,${KIT_HANG_START_VERSIONS:-}, == *,"$version",* ]]; then
  printf 'start-host: %s not started (its start hangs: KIT_HANG_START_VERSIONS)\n' "$version" >&2
  exit 0
fi
AR_ROOT=$KIT_AGENT_ROOT AR_RELEASE=$KIT_AGENT_ROOT/current \
  exec bash "$KIT_AGENT_ROOT/current/bin/agentctl" start
