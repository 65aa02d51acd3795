#!/usr/bin/env bash
# build-release.sh: builds a Control-M/Agent-like release (docs/kits.md).
#
# Usage: build-release.sh <version> <outdir> [--bad-health]
# Writes <outdir>/ctm-agent-<version>.tar.gz: the executables (ctmag, agent.mjs,
# monitor.sh), VERSION, CONFIG.defaults (keys a release adds to CONFIG.dat) and
# share/ (the non-executable files the install copies over the agent home's). Stage
# extracts it into exe_<version>. --bad-health: the listener answers /ping with 500.
# Prints "<sha256>  <file>". Reproducible (sorted, fixed owner and mtime).
set -euo pipefail
[[ $# -ge 2 && $# -le 3 && ${3:---bad-health} == --bad-health ]] || {
  printf 'usage: %s <version> <outdir> [--bad-health]\n' "${0##*/}" >&2
  exit 2
}
version=$1 outdir=$2
src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/agent
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
mkdir -p -- "$work/share" "$outdir"
printf '%s\n' "$version" >"$work/VERSION"
install -m 0755 -- "$src/ctmag" "$src/monitor.sh" "$work/"
install -m 0644 -- "$src/agent.mjs" "$work/agent.mjs"
printf 'TRACKER_INTERVAL 200\nUPGRADE_NO_DOWNTIME Y\n' >"$work/CONFIG.defaults"
printf 'Control-M/Agent-like %s: messages\n' "$version" >"$work/share/messages.txt"
[[ $# -lt 3 ]] || : >"$work/BAD_HEALTH"
chmod 0755 -- "$work" "$work/share"
out=$(cd -- "$outdir" && pwd)/ctm-agent-$version.tar.gz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf - . | gzip -n >"$out.tmp"
mv -f -- "$out.tmp" "$out"
read -r sum _ < <(sha256sum -- "$out")
printf '%s  %s\n' "$sum" "$out"
