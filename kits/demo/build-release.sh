#!/usr/bin/env bash
# build-release.sh: the demo kit's release builder (docs/kits.md).
#
# Usage: build-release.sh <version> <outdir> [--bad-health]
# Builds demo-agent/<version> with demo-agent/build-release.sh and prints
# "<sha256>  <artifact path>" as its last line.
set -euo pipefail
[[ $# -ge 2 ]] || {
  printf 'usage: %s <version> <outdir> [--bad-health]\n' "${0##*/}" >&2
  exit 2
}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
sum=$(bash "$here/../../demo-agent/build-release.sh" "$@")
out=$(cd -- "$2" && pwd)/demo-agent-$1.tar.gz
printf '%s  %s\n' "$sum" "$out"
