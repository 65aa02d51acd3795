#!/usr/bin/env bash
# lib/snapshot.sh: the job snapshot a cutover leaves for cleanup.sh, and the record of
# that cutover. Sourced, never run.
#
# $AR_STATE/snapshots/<rolloutId>.jobs holds "<jobId> <pid> <startTicks>" per job that
# ran when the agent left a release; <rolloutId>.switch (KEY=VALUE lines) names that
# release (oldRelease) and the snapshot's sha256 (jobsSha256), or the release a
# rolled-back switch abandoned (abandonedRelease). Both are written through
# ar_state_write (never through a planted symlink).
# Needs: common.sh, result.sh, profile.sh, hooks.sh.
# shellcheck shell=bash

# ar_snapshot_jobs FILE RELEASE VERSION: FILE = "<jobId> <pid> <startTicks>" of each
# job hook.listJobs prints. A job whose pid is already gone has finished and is left
# out; a line that does not parse returns 1 (a snapshot we cannot trust would let
# cleanup delete a release under a running job). Job ids are written as valid UTF-8
# (ar_utf8_clean): the file is what the result line lists and the ledger hashes.
# shellcheck disable=SC2034 # AR_HOOK_ERROR is read by the step scripts
ar_snapshot_jobs() {
  local file=$1 id pid rest ticks='' text=''
  ar_run_hook listJobs "$2" "$3" || return 1
  while read -r id pid rest || [[ -n $id ]]; do
    [[ -n $id ]] || continue
    if [[ -n $rest || ! $pid =~ ^[1-9][0-9]{0,9}$ || $id == *[[:cntrl:]]* ]]; then
      AR_HOOK_ERROR="hook.listJobs printed '${id:0:80} ${pid:0:20}', expected '<jobId> <pid>'"
      return 1
    fi
    ar_start_ticks ticks "$pid" || continue
    ar_utf8_clean id "$id"
    text+="$id $pid $ticks"$'\n'
  done <"$AR_TMP/hook.out"
  ar_state_write "$file" "$text" 2>"$AR_TMP/state.err" ||
    { AR_HOOK_ERROR="cannot write $file: $(<"$AR_TMP/state.err")" && return 1; }
}

# ar_jobs_json VAR FILE: VAR = the result's "jobs" object of snapshot FILE.
ar_jobs_json() {
  local -n __ar_jj=$1
  local __ar_sum='' __ar_id __ar_pid __ar_t __ar_q __ar_no=''
  local -a __ar_items=()
  read -r __ar_sum _ < <(sha256sum -- "$2") || ar_fail 1 "cannot hash $2"
  while read -r __ar_id __ar_pid __ar_t; do
    [[ $__ar_pid =~ ^[0-9]+$ && $__ar_t =~ ^[0-9]+$ ]] || ar_fail 1 "corrupt snapshot $2"
    ar_json_str __ar_q "$__ar_id"
    __ar_items+=("[$__ar_q,$__ar_pid,$__ar_t]")
  done <"$2"
  [[ ${AR_P[hook.listJobs]} != none ]] || __ar_no=',"declaredNone":true'
  local IFS=,
  __ar_jj="{\"count\":${#__ar_items[@]},\"sha256\":\"$__ar_sum\",\"items\":[${__ar_items[*]}]$__ar_no}"
}

# ar_write_record FILE KEY=VALUE...: the cutover record FILE, one line each: what a
# repeated step reports and what cleanup checks before it deletes a release.
ar_write_record() {
  local file=$1 IFS=$'\n'
  shift
  if ! ar_state_write "$file" "$*"$'\n'; then
    ar_log "cannot write $file: cleanup will keep the release it names"
  fi
}

# ar_record_cutover FILE TO_VERSION FROM_VERSION OLD_RELEASE: the record of a cutover
# whose new release serves, with the sha256 of its snapshot (FILE's .jobs sibling).
ar_record_cutover() {
  local sum=''
  read -r sum _ < <(sha256sum -- "${1%.switch}.jobs") || :
  ar_write_record "$1" "toVersion=$2" "fromVersion=$3" "oldRelease=$4" "jobsSha256=$sum"
}

# ar_switch_records VAR VERSION RID: VAR = a JSON array of the rollouts (other than RID)
# whose switch record here says they switched this host to VERSION away from a release
# (oldRelease), their job snapshot beside it: switches whose old release is still owed
# a cleanup. The orchestrator asks the ledger which of them it never heard of (a run
# that ended before its switch's result arrived) and has the next switch report it.
# At most 20.
ar_switch_records() {
  local -n __ar_sr=$1
  local __ar_f __ar_id __ar_k __ar_v __ar_to __ar_old
  local -a __ar_ids=()
  for __ar_f in "$AR_STATE"/snapshots/*.switch; do
    [[ -f $__ar_f && ! -L $__ar_f && -f ${__ar_f%.switch}.jobs ]] || continue
    __ar_id=${__ar_f##*/} __ar_id=${__ar_id%.switch}
    [[ $__ar_id != "$3" && $__ar_id =~ $AR_RE_ROLLOUT_ID ]] || continue
    __ar_to='' __ar_old=''
    while IFS='=' read -r __ar_k __ar_v; do
      case $__ar_k in
        toVersion) __ar_to=$__ar_v ;;
        oldRelease) __ar_old=$__ar_v ;;
      esac
    done <"$__ar_f"
    [[ $__ar_to == "$2" && -n $__ar_old ]] || continue
    __ar_ids+=("\"$__ar_id\"")
    ((${#__ar_ids[@]} < 20)) || break
  done
  local IFS=,
  __ar_sr="[${__ar_ids[*]}]"
}
