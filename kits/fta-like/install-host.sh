#!/usr/bin/env bash
# install-host.sh: first install of an FTA-like node (docs/kits.md): the package
# KIT_ARTIFACT's fta-agents-<KIT_VERSION>/ extracted into releases/<KIT_VERSION> and
# recorded as staged, installed (fta-pkg), configured (configure_node), `current`
# pointed at it, daemons started.
# Inputs (environment): KIT_AGENT_ROOT, KIT_VERSION, KIT_ARTIFACT, AR_HOST_ROOT.
set -euo pipefail
root=$KIT_AGENT_ROOT version=$KIT_VERSION
release=$root/releases/$version
mkdir -p -- "$root/releases" "$root/.agent-rollout/staged"
if [[ ! -d $release ]]; then
  work=$(mktemp -d "$root/releases/.install.XXXXXX")
  tar -xzf "$KIT_ARTIFACT" -C "$work" --no-same-owner
  # The package's files sit in fta-agents-<version>/ (the profile's artifact_subdir).
  mv -T -- "$work/fta-agents-$version" "$release"
  rm -rf -- "$work"
  read -r sum _ < <(sha256sum -- "$KIT_ARTIFACT")
  printf 'staged %s\n' "$sum" >"$root/.agent-rollout/staged/$version"
fi
"$release/bin/fta-pkg" install 2>/dev/null
"$release/bin/configure_node" "$root/etc/site-info.def" FTA >/dev/null
ln -sfn -- "releases/$version" "$root/.current.new"
mv -fT -- "$root/.current.new" "$root/current"
"$root/usr/sbin/transfer-agents" start
