#!/usr/bin/env bash
# lib/lock.sh: the host mutex, one step at a time per install root. Sourced, never run.
#
# ar_lock takes $AR_STATE/lock (waiting, taking over a lock whose owner is gone); the
# exit trap releases it. Once held, temporary directories of dead runs are removed.
# Needs: common.sh, result.sh, profile.sh (AR_STATE, loaded).
# Inputs (environment): AR_LOCK_WAIT_S (optional, seconds to wait for the lock,
#   default 300).
# shellcheck shell=bash

AR_LOCKED=''

# The lock is the directory $AR_STATE/lock holding an "owner" file (pid, start ticks,
# step, rollout). It is prepared under a private name and renamed into place: rename
# refuses a non-empty target, so taking it is atomic and a lock is never seen without
# its owner. A lock whose owner process is gone (or whose pid now belongs to another
# process) is stale and taken over.
ar_lock() {
  local lock=$AR_STATE/lock mine="$AR_STATE/.lock.$$" ticks owner='' waited=0
  local wait_s=${AR_LOCK_WAIT_S:-300}
  ar_at_exit ar__unlock
  ar_state_dir "$AR_STATE" 2>"$AR_TMP/state.err" ||
    ar_fail 1 "refusing the state directory: $(<"$AR_TMP/state.err")"
  ar_start_ticks ticks $$ || ar_fail 1 "cannot read own start time"
  rm -rf -- "$mine"
  # Gone once renamed into place; left behind if we are stopped while waiting.
  ar_remove_on_exit "$mine"
  if ! mkdir -- "$mine" ||
    ! printf '%s %s %s %s\n' $$ "$ticks" "$AR_STEP" "${PARAM[rolloutId]:--}" >"$mine/owner"; then
    ar_fail 1 "cannot prepare the lock in $AR_STATE"
  fi
  while ! mv -T -- "$mine" "$lock" 2>/dev/null; do
    if ar__lock_stale "$lock" owner; then
      ar__break_lock "$lock" "$owner"
      continue
    fi
    if ((waited == 0)); then ar_log "waiting for the host lock held by: $owner"; fi
    if ((waited >= wait_s * 10)); then
      rm -rf -- "$mine"
      ar_fail 1 "host busy: lock $lock held by ($owner) for more than ${wait_s}s"
    fi
    ar_sleep 0.1
    waited=$((waited + 1))
  done
  AR_LOCKED=1
  ar__remove_dead_tmp
}

# ar__lock_stale LOCK VAR: VAR = owner line; 0 when the owner process is gone.
ar__lock_stale() {
  local -n __ar_owner=$2
  local __ar_pid='' __ar_tk='' __ar_rest=''
  __ar_owner=''
  { read -r __ar_pid __ar_tk __ar_rest <"$1/owner"; } 2>/dev/null || {
    # Released between our rename attempt and this read: not stale, just retry.
    [[ -d $1 ]] || return 1
    # A lock directory without owner is the leftover of a crash mid-release.
    __ar_owner='(no owner)'
    return 0
  }
  __ar_owner="$__ar_pid $__ar_tk $__ar_rest"
  ! ar_pid_is "$__ar_pid" "$__ar_tk"
}

# ar__break_lock LOCK OWNER: removes a stale LOCK if it still has OWNER. Breakers
# serialise on a short-lived second lock so that two of them cannot both act on one
# stale lock and remove the live lock taken in between.
ar__break_lock() {
  local brk="$1.break" now mtime current=''
  if ! mkdir -- "$brk" 2>/dev/null; then
    # A breaker that died holding it: it is held for milliseconds, so age tells.
    ar_now_ms now
    mtime=$(stat -c %Y -- "$brk" 2>/dev/null) || return 0
    ((now / 1000 - mtime > 30)) && rm -rf -- "$brk"
    ar_sleep 0.05
    return 0
  fi
  ar__lock_stale "$1" current || current=''
  if [[ -n $current && $current == "$2" ]]; then
    ar_log "taking over stale lock of: $2"
    mv -T -- "$1" "$1.stale.$$" 2>/dev/null && rm -rf -- "$1.stale.$$"
  fi
  rmdir -- "$brk" 2>/dev/null || :
}

# ar__unlock: releases the lock if we hold it (in the exit trap, see ar_lock).
ar__unlock() {
  [[ -n $AR_LOCKED ]] || return 0
  local lock=$AR_STATE/lock pid=''
  AR_LOCKED=''
  { read -r pid _ <"$lock/owner"; } 2>/dev/null || return 0
  [[ $pid == "$$" ]] || return 0
  mv -T -- "$lock" "$AR_STATE/.lock.free.$$" && rm -rf -- "$AR_STATE/.lock.free.$$"
}
