#!/usr/bin/env bash
# configure-host.sh: the host's own settings in data/CONFIG.dat (docs/kits.md):
# AGENT_PORT, HOST_ID and the local-mode fault FAIL_HEALTH_VERSIONS; every other key
# (CTMSHOST, AGENT_VERSION, ...) is kept.
# Inputs (environment): KIT_AGENT_ROOT, KIT_PORT, KIT_HOST_ID, KIT_FAIL_HEALTH_VERSIONS.
set -euo pipefail
conf=$KIT_AGENT_ROOT/data/CONFIG.dat
mkdir -p -- "${conf%/*}"
declare -A c=()
if [[ -f $conf ]]; then
  while read -r key value || [[ -n $key ]]; do [[ -z $key ]] || c[$key]=$value; done <"$conf"
fi
c[AGENT_PORT]=$KIT_PORT c[HOST_ID]=$KIT_HOST_ID
unset 'c[FAIL_HEALTH_VERSIONS]'
[[ -z ${KIT_FAIL_HEALTH_VERSIONS:-} ]] || c[FAIL_HEALTH_VERSIONS]=$KIT_FAIL_HEALTH_VERSIONS
for key in "${!c[@]}"; do printf '%s %s\n' "$key" "${c[$key]}"; done | sort >"$conf.tmp"
mv -f -- "$conf.tmp" "$conf"
