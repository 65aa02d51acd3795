#!/usr/bin/env bash
# install-first.sh: first install of the demo agent on a host, before agent-rollout
# manages it (what a package or a provisioning tool would do).
#
# Usage: install-first.sh <agentRoot> <version> <artifact.tar.gz>
# Extracts the artifact into <agentRoot>/releases/<version> (aside, then renamed),
# records it as staged from the artifact's sha256 (.agent-rollout/staged/<version>),
# points <agentRoot>/current at it and creates run/ and jobs/. Writes no config
# (conf/agent.env is the host's) and starts nothing: `current/bin/agentctl start`
# does. Idempotent: a host already on <version> is left as it is.
set -euo pipefail

[[ $# -eq 3 ]] || {
  printf 'usage: %s <agentRoot> <version> <artifact.tar.gz>\n' "${0##*/}" >&2
  exit 2
}
root=$1 version=$2 artifact=$3
[[ $root == /* ]] || {
  printf 'agentRoot must be absolute: %s\n' "$root" >&2
  exit 2
}
[[ $version =~ ^[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$ ]] || {
  printf 'invalid version: %s\n' "$version" >&2
  exit 2
}

release=$root/releases/$version
staged=$root/.agent-rollout/staged
mkdir -p -- "$root/releases" "$root/run" "$root/jobs"
if [[ ! -d $release ]]; then
  work=$(mktemp -d "$root/releases/.install-$version.XXXXXX")
  trap 'rm -rf -- "$work"' EXIT
  read -r sum _ < <(sha256sum -- "$artifact")
  [[ $sum =~ ^[a-f0-9]{64}$ ]] || {
    printf 'cannot hash %s\n' "$artifact" >&2
    exit 1
  }
  tar -xzf "$artifact" -C "$work" --no-same-owner
  mv -T -- "$work" "$release"
  trap - EXIT
  # Recorded as agent-rollout's stage would (docs/contracts.md): a later rollout back
  # to this version, from this very artifact, finds the release ALREADY_STAGED instead
  # of refusing a release directory it did not stage. Only a release extracted here is
  # recorded: one found in place may have come from anywhere.
  mkdir -p -- "$staged"
  printf 'staged %s\n' "$sum" >"$staged/.$version.tmp"
  mv -f -- "$staged/.$version.tmp" "$staged/$version"
fi
ln -sfn -- "releases/$version" "$root/.current.new"
mv -fT -- "$root/.current.new" "$root/current"
