#!/usr/bin/env bash
# transfer.sh: one transfer, a long-running copy between local directories: copies
# <src> to <dst> in 16 chunks spread over <seconds>, then writes done/<id>.json with
# the sha256 of what arrived and the agent version that ran it.
# Usage: transfer.sh <id> <src> <dst> <seconds>; FTA_ROOT, FTA_VERSION.
set -euo pipefail
id=$1 src=$2 dst=$3 seconds=$4
size=$(stat -c %s -- "$src")
chunk=$(((size + 15) / 16))
pause=$(awk -v s="$seconds" 'BEGIN { printf "%.3f", s / 16 }')
mkdir -p -- "${dst%/*}"
: >"$dst.part"
for ((i = 0; i < 16; i++)); do
  dd if="$src" of="$dst.part" bs="$chunk" skip="$i" seek="$i" count=1 conv=notrunc status=none
  sleep "$pause"
done
mv -f -- "$dst.part" "$dst"
read -r sum _ < <(sha256sum -- "$dst")
mkdir -p -- "$FTA_ROOT/done"
printf '{"id":"%s","exitCode":0,"sha256":"%s","version":"%s"}\n' "$id" "$sum" "$FTA_VERSION" >"$FTA_ROOT/done/.$id.tmp"
mv -f -- "$FTA_ROOT/done/.$id.tmp" "$FTA_ROOT/done/$id.json"
