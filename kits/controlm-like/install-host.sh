#!/usr/bin/env bash
# install-host.sh: first install of a Control-M/Agent-like agent (docs/kits.md):
# extracts KIT_ARTIFACT into exe_<KIT_VERSION>, records it as staged (as the rollout's
# stage would), copies its share/ files into the agent home, points exe at it, sets
# AGENT_VERSION in CONFIG.dat and starts the listener and the tracker.
# Inputs (environment): KIT_AGENT_ROOT, KIT_VERSION, KIT_ARTIFACT, AR_HOST_ROOT.
set -euo pipefail
root=$KIT_AGENT_ROOT version=$KIT_VERSION
release=$root/exe_$version
mkdir -p -- "$root/data/jobs" "$root/data/status" "$root/proc" "$root/share" "$root/.agent-rollout/staged"
if [[ ! -d $release ]]; then
  work=$(mktemp -d "$root/.install.XXXXXX")
  tar -xzf "$KIT_ARTIFACT" -C "$work" --no-same-owner
  mv -T -- "$work" "$release"
  read -r sum _ < <(sha256sum -- "$KIT_ARTIFACT")
  printf 'staged %s\n' "$sum" >"$root/.agent-rollout/staged/$version"
fi
cp -R -- "$release/share/." "$root/share/"
ln -sfn -- "exe_$version" "$root/.exe.new"
mv -fT -- "$root/.exe.new" "$root/exe"
"$root/exe/ctmag" configure >/dev/null
"$root/exe/ctmag" start
