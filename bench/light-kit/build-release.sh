#!/usr/bin/env bash
# build-release.sh: the benchmark kit's release builder (docs/kits.md).
#
# Usage: build-release.sh <version> <outdir> [--bad-health]
# Writes bench-light-<version>.tar.gz holding one VERSION file and prints
# "<sha256>  <artifact path>" as its last line. The benchmark profile installs
# nothing from it (artifact=none); stage still fetches and verifies it.
set -euo pipefail
[[ $# -ge 2 ]] || {
  printf 'usage: %s <version> <outdir> [--bad-health]\n' "${0##*/}" >&2
  exit 2
}
version=$1
out=$(cd -- "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s\n' "$version" >"$work/VERSION"
tar -C "$work" -czf "$out/bench-light-$version.tar.gz" VERSION
sha=$(sha256sum "$out/bench-light-$version.tar.gz")
printf '%s  %s\n' "${sha%% *}" "$out/bench-light-$version.tar.gz"
