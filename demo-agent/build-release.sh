#!/usr/bin/env bash
# build-release.sh: builds a demo-agent release artifact.
#
# Usage: build-release.sh <version> <outdir> [--bad-health]
# Writes <outdir>/demo-agent-<version>.tar.gz holding VERSION, bin/agentctl,
# lib/listener.mjs and lib/job.sh at its top level (stage.sh extracts it into
# releases/<version>/), and prints its sha256 on stdout. --bad-health builds a release
# whose /health answers 500, to exercise rollback. The archive is reproducible (sorted,
# fixed owner and mtime, gzip without timestamp): same inputs, same sha256.
set -euo pipefail

usage() {
  printf 'usage: %s <version> <outdir> [--bad-health]\n' "${0##*/}" >&2
  exit 2
}
[[ $# -ge 2 && $# -le 3 ]] || usage
version=$1 outdir=$2 bad=${3:-}
[[ -z $bad || $bad == --bad-health ]] || usage
[[ $version =~ ^[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$ ]] || {
  printf 'invalid version: %s\n' "$version" >&2
  exit 2
}

src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
mkdir -p -- "$outdir"
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

mkdir -p -- "$work/bin" "$work/lib"
printf '%s\n' "$version" >"$work/VERSION"
install -m 0755 -- "$src/bin/agentctl" "$work/bin/agentctl"
install -m 0644 -- "$src/lib/listener.mjs" "$work/lib/listener.mjs"
install -m 0755 -- "$src/lib/job.sh" "$work/lib/job.sh"
[[ -z $bad ]] || : >"$work/BAD_HEALTH"
# Modes must not depend on the builder's umask (mktemp -d is 0700, and the root entry
# of the archive sets the mode of the release directory).
chmod 0755 -- "$work" "$work/bin" "$work/lib"
chmod 0644 -- "$work/VERSION" ${bad:+"$work/BAD_HEALTH"}

out=$outdir/demo-agent-$version.tar.gz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf - . |
  gzip -n >"$out.tmp"
mv -f -- "$out.tmp" "$out"
read -r sum _ < <(sha256sum -- "$out")
printf '%s\n' "$sum"
