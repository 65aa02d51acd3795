#!/usr/bin/env bash
# monitor.sh: the job monitor of one job (one process per job, its own session): runs
# the job, records its end in data/status/<jobId>.ended, then reports the end to the
# server named by CTMSHOST in data/CONFIG.dat, retrying until the server takes it. The
# server accepts status updates in every agent state, Suspended included.
# Usage: monitor.sh <jobId> <seconds> <exitCode>; CTM_ROOT = the agent home.
set -uo pipefail
id=$1 seconds=$2 code=$3
root=${CTM_ROOT:?}
sleep "$seconds"
mkdir -p -- "$root/data/status"
printf '{"jobId":"%s","exitCode":%s}\n' "$id" "$code" >"$root/data/status/$id.ended.tmp"
mv -f -- "$root/data/status/$id.ended.tmp" "$root/data/status/$id.ended"
for ((i = 0; i < 300; i++)); do
  server='' host=''
  while read -r key value; do
    case $key in CTMSHOST) server=$value ;; HOST_ID) host=$value ;; esac
  done <"$root/data/CONFIG.dat"
  if [[ -n $server ]] && curl -fsS -o /dev/null --max-time 2 -X POST \
    -H 'content-type: application/json' \
    --data "{\"hostId\":\"$host\",\"jobId\":\"$id\",\"exitCode\":$code}" "$server/status"; then
    exit "$code"
  fi
  sleep 0.2
done
printf 'monitor %s: could not report the end to the server\n' "$id" >&2
exit "$code"
