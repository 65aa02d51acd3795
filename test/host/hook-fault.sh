#!/usr/bin/env bash
# hook-fault.sh: the fault a test set on one hook of a test profile. The invariant
# tests (test/host/invariant.ts) wrap every hook of the profiles they derive between
# two calls of it, `before` and `after` the hook's own command, made only while
# faults/<hook> exists.
#
# Usage: hook-fault.sh <hook> before|after   (run as the hook: in $AR_ROOT)
# faults/<hook> holds "<fault> [<version>]"; with a version, only the calls about that
# release (AR_VERSION) fault:
#   fails          before: exits 1, the hook does nothing
#   hangs          before: sleeps until the hook's timeout kills it
#   killed-before  before: writes faults/<hook>.reached and sleeps: the test kills the
#                  step there (the step killed as the hook starts)
#   killed-after   after the hook did its work: the same (the step killed before it
#                  saw the hook end)
set -euo pipefail

hook=$1 point=$2 fault='' only=''
{ read -r fault only <"faults/$hook"; } 2>/dev/null || [[ -n $fault ]] || exit 0
[[ -z $only || $only == "${AR_VERSION:-}" ]] || exit 0
case $point:$fault in
  before:fails)
    printf 'hook-fault: hook.%s fails\n' "$hook" >&2
    exit 1
    ;;
  before:hangs) exec sleep 3600 ;;
  before:killed-before | after:killed-after)
    : >"faults/$hook.reached"
    exec sleep 3600
    ;;
esac
