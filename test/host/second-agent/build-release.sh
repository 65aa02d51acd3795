#!/usr/bin/env bash
# build-release.sh: builds a release artifact of the second test agent.
#
# Usage: build-release.sh <version> <outdir>
# Writes <outdir>/second-agent-<version>.tar.gz holding VERSION and secondctl at its
# top level (stage.sh extracts it into bin-<version>/ in the agent's home) and prints
# its sha256. Reproducible: same inputs, same sha256.
set -euo pipefail

[[ $# -eq 2 ]] || {
  printf 'usage: %s <version> <outdir>\n' "${0##*/}" >&2
  exit 2
}
version=$1 outdir=$2
[[ $version =~ ^[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$ ]] || {
  printf 'invalid version: %s\n' "$version" >&2
  exit 2
}
src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
mkdir -p -- "$outdir"
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
printf '%s\n' "$version" >"$work/VERSION"
install -m 0755 -- "$src/secondctl" "$work/secondctl"
chmod 0755 -- "$work"
chmod 0644 -- "$work/VERSION"
out=$outdir/second-agent-$version.tar.gz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf - . |
  gzip -n >"$out.tmp"
mv -f -- "$out.tmp" "$out"
read -r sum _ < <(sha256sum -- "$out")
printf '%s\n' "$sum"
