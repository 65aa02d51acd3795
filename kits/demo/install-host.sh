#!/usr/bin/env bash
# install-host.sh: the demo kit's first install of a host (docs/kits.md): extracts
# KIT_ARTIFACT as release KIT_VERSION (demo-agent/install-first.sh) and starts its
# listener.
# Inputs (environment): KIT_AGENT_ROOT, KIT_VERSION, KIT_ARTIFACT, AR_HOST_ROOT.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
bash "$here/../../demo-agent/install-first.sh" "$KIT_AGENT_ROOT" "$KIT_VERSION" "$KIT_ARTIFACT"
AR_ROOT=$KIT_AGENT_ROOT AR_RELEASE=$KIT_AGENT_ROOT/current \
  bash "$KIT_AGENT_ROOT/current/bin/agentctl" start
