#!/usr/bin/env bash
# job.sh: one demo job, started detached by the listener of this release.
#
# Usage: job.sh <id> <seconds> <exitCode>   (env AGENT_ROOT)
# Writes $AGENT_ROOT/jobs/<id>.pid, sleeps, then writes $AGENT_ROOT/jobs/<id>.done
# ({"id","exitCode","finishedMs","version"}, version = the release that ran it) and
# exits with <exitCode>. Both files appear whole (written aside, then renamed).
set -euo pipefail

id=$1 seconds=$2 code=$3
jobs=${AGENT_ROOT:?AGENT_ROOT is not set}/jobs
release=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
version=$(<"$release/VERSION")

printf '%s\n' "$$" >"$jobs/$id.pid.tmp"
mv -f -- "$jobs/$id.pid.tmp" "$jobs/$id.pid"
sleep "$seconds"
now=${EPOCHREALTIME/[!0-9]/}
printf '{"id":"%s","exitCode":%d,"finishedMs":%d,"version":"%s"}\n' \
  "$id" "$code" $((10#$now / 1000)) "$version" >"$jobs/$id.done.tmp"
mv -f -- "$jobs/$id.done.tmp" "$jobs/$id.done"
exit "$code"
