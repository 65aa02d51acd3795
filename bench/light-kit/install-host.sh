#!/usr/bin/env bash
# install-host.sh: first install of a benchmark host (docs/kits.md): the release
# directory with its VERSION file and the `current` link. Nothing is started.
set -euo pipefail
release="$KIT_AGENT_ROOT/releases/$KIT_VERSION"
mkdir -p "$release"
printf '%s\n' "$KIT_VERSION" >"$release/VERSION"
ln -sfn "releases/$KIT_VERSION" "$KIT_AGENT_ROOT/current"
