#!/usr/bin/env bash
# install-first.sh: first install of the second test agent on a host, before
# agent-rollout manages it.
#
# Usage: install-first.sh <home> <version> <artifact.tar.gz> <serverStateFile>
# Extracts the artifact into <home>/bin-<version>, records it as staged from the
# artifact's sha256 (.agent-rollout/staged/<version>), points <home>/active at it,
# writes etc/agent.conf (version=<version>, server=<serverStateFile>) and registers
# the agent with the scheduler server (Available). Starts nothing:
# `active/secondctl start` does.
set -euo pipefail

[[ $# -eq 4 ]] || {
  printf 'usage: %s <home> <version> <artifact.tar.gz> <serverStateFile>\n' "${0##*/}" >&2
  exit 2
}
home=$1 version=$2 artifact=$3 server=$4
[[ $home == /* && $server == /* ]] || {
  printf 'home and serverStateFile must be absolute\n' >&2
  exit 2
}
[[ $version =~ ^[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$ ]] || {
  printf 'invalid version: %s\n' "$version" >&2
  exit 2
}
release=$home/bin-$version
mkdir -p -- "$home/etc" "$home/run" "$home/jobs" "$home/.agent-rollout/staged" "${server%/*}"
if [[ ! -d $release ]]; then
  work=$(mktemp -d "$home/.install-$version.XXXXXX")
  trap 'rm -rf -- "$work"' EXIT
  tar -xzf "$artifact" -C "$work" --no-same-owner
  mv -T -- "$work" "$release"
  trap - EXIT
  read -r sum _ < <(sha256sum -- "$artifact")
  printf 'staged %s\n' "$sum" >"$home/.agent-rollout/staged/$version"
fi
ln -sfn -- "bin-$version" "$home/.active.new"
mv -fT -- "$home/.active.new" "$home/active"
printf 'version=%s\nserver=%s\n' "$version" "$server" >"$home/etc/agent.conf"
printf 'Available\n' >"$server"
