#!/usr/bin/env bash
# lib/hooks.sh: runs the profile's hooks. Sourced, never run.
#
# Each hook runs as bash -c in AR_ROOT, under timeout (hook_timeout_s), with
# AR_RELEASE and AR_VERSION set and its output captured in files, replayed to stderr
# (the last AR_REPLAY_MAX_BYTES of each stream, with a line saying how much was cut);
# while AR_DEFER_REPLAY is set (the suspend window, cutover.sh) the replay waits for
# ar_replay_deferred. ar_wait_healthy repeats the health hook until it passes or
# health_timeout_s has gone by, ar_wait_available the available hook (if any) for
# available_timeout_s.
# Needs: common.sh (AR_TMP, ar_sleep), result.sh, profile.sh (AR_P, AR_ROOT, loaded).
# Sets: AR_HOOK_ERROR (why the last hook failed), AR_HEALTH_OK_MS, AR_HEALTH_ERROR.
# shellcheck shell=bash

# shellcheck disable=SC2034 # read by the step scripts and cutover.sh
AR_HOOK_ERROR='' AR_HEALTH_OK_MS='' AR_HEALTH_ERROR=''
# Set while replays wait (cutover.sh: suspended); "<hook> <file>" per stream to replay.
AR_DEFER_REPLAY=''
declare -ga AR_DEFERRED_REPLAYS=()
# Per stream of a hook: a hook printing megabytes must not flood the step's output.
readonly AR_REPLAY_MAX_BYTES=16384

# ar_run_hook NAME RELEASE VERSION [TIMEOUT_S]: runs hook.NAME as bash -c, in AR_ROOT,
# under timeout, with AR_RELEASE/AR_VERSION set; stdout to $AR_TMP/hook.out and stderr
# to $AR_TMP/hook.err (files, not pipes: a daemon the hook leaves behind cannot keep
# our output open; ar_hook and ar_hook_line set ar__files to other names to keep them
# for a deferred replay). Returns the hook's exit status; AR_HOOK_ERROR describes a
# failure.
ar_run_hook() {
  local name=$1 hook=${AR_P[hook.$1]} t=${4:-${AR_P[hook_timeout_s]}} rc=0 last=''
  local dir=/ files=${ar__files:-$AR_TMP/hook}
  [[ ! -d $AR_ROOT ]] || dir=$AR_ROOT
  # The step itself works with absolute paths only: changing its directory here saves
  # a subshell per hook.
  if [[ $PWD != "$dir" ]] && ! cd -- "$dir"; then
    AR_HOOK_ERROR="hook.$name: cannot enter $dir"
    return 1
  fi
  if [[ $hook == none ]]; then
    # Declared not needed (profile.sh allows it for suspend, resume, listJobs).
    : >"$files.out" && : >"$files.err"
  else AR_RELEASE=$2 AR_VERSION=$3 timeout -k 5 "$t" bash -c "$hook" \
    </dev/null >"$files.out" 2>"$files.err" {AR_SLEEP_FD}>&- || rc=$?
  fi
  AR_HOOK_ERROR=''
  if ((rc != 0)); then
    local -a lines=()
    mapfile -t lines <"$files.err" || :
    local i
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
      [[ -z ${lines[i]//[[:space:]]/} ]] || { last=${lines[i]:0:300}; break; }
    done
    if ((rc == 124)); then
      AR_HOOK_ERROR="hook.$name timed out after ${t}s"
    else
      AR_HOOK_ERROR="hook.$name exited $rc"
    fi
    [[ -z $last ]] || AR_HOOK_ERROR+=": $last"
  fi
  return "$rc"
}

# ar__replay NAME FILE: copies a captured hook stream to stderr, prefixed with the hook
# name: its last AR_REPLAY_MAX_BYTES, after a line saying how much was cut.
ar__replay() {
  local line size=0
  [[ -s $2 ]] || return 0
  size=$(stat -c %s -- "$2") || size=0
  if ((size > AR_REPLAY_MAX_BYTES)); then
    printf '[%s] hook.%s: [%d bytes of output cut; the last %d follow]\n' "$AR_STEP" "$1" \
      $((size - AR_REPLAY_MAX_BYTES)) "$AR_REPLAY_MAX_BYTES" >&2
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    printf '[%s] hook.%s: %s\n' "$AR_STEP" "$1" "$line" >&2
  done < <(tail -c "$AR_REPLAY_MAX_BYTES" -- "$2")
}

# ar__replay_or_defer NAME FILE...: replays the streams now, or after the suspend
# window (AR_DEFER_REPLAY): no replay, however long, stretches it.
ar__replay_or_defer() {
  local name=$1 f
  shift
  for f; do
    if [[ -n $AR_DEFER_REPLAY ]]; then AR_DEFERRED_REPLAYS+=("$name $f"); else ar__replay "$name" "$f"; fi
  done
}

# ar_replay_deferred: replays what ar__replay_or_defer kept, in order.
ar_replay_deferred() {
  local entry
  for entry in "${AR_DEFERRED_REPLAYS[@]}"; do ar__replay "${entry%% *}" "${entry#* }"; done
  AR_DEFERRED_REPLAYS=()
}

# ar__hook_files VAR: VAR = where the next hook's output goes: the usual files, or
# files of its own while replays are deferred (they must outlive the next hook).
ar__hook_files() {
  local -n __ar_hf=$1
  __ar_hf=$AR_TMP/hook
  [[ -z $AR_DEFER_REPLAY ]] || __ar_hf=$AR_TMP/hook.${#AR_DEFERRED_REPLAYS[@]}
}

# ar_hook NAME RELEASE VERSION [TIMEOUT_S]: runs the hook; its output goes to stderr.
ar_hook() {
  local rc=0 ar__files
  ar__hook_files ar__files
  ar_run_hook "$@" || rc=$?
  ar__replay_or_defer "$1" "$ar__files.out" "$ar__files.err"
  return "$rc"
}

# ar_hook_line VAR NAME RELEASE VERSION: runs the hook; VAR = last non-empty line of
# its stdout (hooks print one line; tools often print noise before their summary).
ar_hook_line() {
  local -n __ar_hl=$1
  local __ar_rc=0 __ar_line __ar_i ar__files
  local -a __ar_lines=()
  shift
  ar__hook_files ar__files
  ar_run_hook "$@" || __ar_rc=$?
  ar__replay_or_defer "$1" "$ar__files.err"
  __ar_hl=''
  mapfile -t __ar_lines <"$ar__files.out" || :
  # From the end: a chatty hook's many lines are not walked through.
  for ((__ar_i = ${#__ar_lines[@]} - 1; __ar_i >= 0; __ar_i--)); do
    __ar_line=${__ar_lines[__ar_i]%$'\r'}
    [[ -z ${__ar_line//[[:space:]]/} ]] || { __ar_hl=${__ar_line:0:1000}; break; }
  done
  return "$__ar_rc"
}

# ar__poll_hook VAR NAME LIMIT_S RELEASE VERSION: calls hook.NAME every 10 ms until it
# passes (0, VAR = when) or LIMIT_S seconds have gone by (1; AR_HOOK_ERROR says why the
# last call failed). Each call is cut at what is left of LIMIT_S (at least 200 ms).
# shellcheck disable=SC2154 # AR_P is profile.sh's associative array
ar__poll_hook() {
  local -n __ar_ok=$1
  local now deadline left t per_call=$((AR_P[hook_timeout_s] * 1000))
  ar_now_ms now
  deadline=$((now + $3 * 1000))
  while :; do
    left=$((deadline - now))
    ((left >= 200)) || left=200
    ((left <= per_call)) || left=$per_call
    printf -v t '%d.%03d' $((left / 1000)) $((left % 1000))
    if ar_run_hook "$2" "$4" "$5" "$t"; then
      ar_now_ms __ar_ok
      return 0
    fi
    ar_now_ms now
    ((now < deadline)) || return 1
    ar_sleep 0.01
    ar_now_ms now
  done
}

# ar_wait_healthy RELEASE VERSION: the health hook until it passes (0, AR_HEALTH_OK_MS
# set) or health_timeout_s has gone by (1, AR_HEALTH_ERROR set).
# shellcheck disable=SC2034 # AR_HEALTH_ERROR is read by the callers
ar_wait_healthy() {
  ar__poll_hook AR_HEALTH_OK_MS health "${AR_P[health_timeout_s]}" "$1" "$2" && return 0
  AR_HEALTH_ERROR="health check of $2 still failing after ${AR_P[health_timeout_s]}s (${AR_HOOK_ERROR})"
  return 1
}

# ar_wait_available RELEASE VERSION: once resumed, the available hook until the
# scheduler dispatches to the agent again (0; at once without hook.available) or
# available_timeout_s has gone by (1, AR_HOOK_ERROR set).
ar_wait_available() {
  local at
  [[ -n ${AR_P[hook.available]} ]] || return 0
  ar__poll_hook at available "${AR_P[available_timeout_s]}" "$1" "$2" && return 0
  AR_HOOK_ERROR="$2 not available to the scheduler again after ${AR_P[available_timeout_s]}s (${AR_HOOK_ERROR})"
  return 1
}
