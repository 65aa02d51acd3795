#!/usr/bin/env bash
# switch.sh: moves the agent to the staged target release, in one command so that no
# orchestrator round trip ever falls inside the critical section.
#
# Slow things (profile, checks, versions, endpoint) first. Then: suspend -> snapshot of
# the running jobs to $AR_STATE/snapshots/<rolloutId>.jobs -> cutover (lib/cutover.sh:
# stop-start or overlap; flips back if the new release does not come up: ROLLED_BACK)
# -> resume, on every way out once suspended. On the target and serving: UNCHANGED,
# nothing touched (repeating this rollout's switch if it did it, or taking over the
# switch of a rollout that left the agent suspended on it, or of the rollout named by
# adoptRolloutId: one whose run ended before its switch's result reached the ledger);
# on the target but not
# serving: its listener restarted (UNCHANGED, with a reason). A cutover a killed run
# left half done is finished or undone first; if that completed a switch to this very
# target it is reported SWITCHED, with a snapshot taken now.
# Inputs: SSM_profile, SSM_targetVersion, SSM_rolloutId, SSM_adoptRolloutId (may be
#   empty); AR_PROFILE_DIR, AR_HOST_ROOT.
# Output: result-sha256 line, then one JSON line, status SWITCHED | UNCHANGED (exit
#   0), ROLLED_BACK (exit 3) or FAILED (exit 1, 2 for bad parameters), with
#   fromVersion, toVersion, currentVersion, oldRelease, switchMode, suspendMs,
#   listenerGapMs, unservedMs, refused, healthMs, configureReport, jobs {count, sha256,
#   items: [[jobId, pid, startTicks], ...], declaredNone (hook.listJobs=none)},
#   abandonedRelease (ROLLED_BACK: the target release, for cleanup), reason.
# shellcheck source-path=SCRIPTDIR
set -Eeuo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/result.sh"
source "$here/lib/common.sh"
source "$here/lib/profile.sh"
source "$here/lib/releases.sh"
source "$here/lib/lock.sh"
source "$here/lib/hooks.sh"
source "$here/lib/config.sh"
source "$here/lib/cutover.sh"
source "$here/lib/snapshot.sh"

# Filled by lib/ functions through namerefs.
to_t='' from_t='' prev_before='' from_v='' running='' staged_sha=''
jobs_json='{"count":0,"sha256":null,"items":[]}'

ar_init switch
ar_param profile
ar_param targetVersion
ar_param rolloutId
ar_param adoptRolloutId
ar_load_profile "${PARAM[profile]}"
to_v=${PARAM[targetVersion]} rid=${PARAM[rolloutId]}
export AR_TO_VERSION=$to_v
ar_lock

ar_release_target to_t "$to_v"
to_rel=$AR_ROOT/$to_t
snapshot=$AR_STATE/snapshots/$rid.jobs
record=$AR_STATE/snapshots/$rid.switch
# A run killed mid-cutover (SSM execution timeout) is finished or undone first, so
# that what follows starts from an agent that serves.
ar_recover_cutover
ar_link_target from_t "${AR_P[link_name]}"
AR_LIVE_REL=${from_t:+$AR_ROOT/$from_t}

# out_timings: the figures of a switch that did not run a cutover (all null).
out_timings() {
  local k
  ar_out_str switchMode
  for k in suspendMs listenerGapMs unservedMs refused healthMs; do ar_out_num $k; done
}

# The recovery completed an interrupted switch to this very target: this run reports
# that switch (SWITCHED from the release it left), with a job snapshot of its own taken
# now, still suspended, so that the nightly cleanup can later delete the old release.
completed=''
if [[ $AR_RECOVERED == forward && $AR_RECOVERED_STEP == switch && $from_t == "$to_t" &&
  -n $AR_RECOVERED_FROM_T ]]; then
  AR_LIVE_VER=$to_v
  ar_snapshot_jobs "$snapshot" "$AR_LIVE_REL" "$AR_LIVE_VER" || ar_fail 1 "cannot snapshot the running jobs: $AR_HOOK_ERROR"
  completed=1
fi
# A switch that left the agent suspended (its resume failed, or it was killed then):
# its rollout is over, this one reports and records that switch (below).
left_by='' step_left=''
if [[ -f $AR_STATE/suspended ]]; then read -r step_left left_by <"$AR_STATE/suspended" || :; fi
[[ $step_left == switch && $left_by != "$rid" && $left_by =~ $AR_RE_ROLLOUT_ID ]] || left_by=''
# The orchestrator names a rollout whose switch here finished but never reached the
# ledger (its run ended first): this one reports and records that switch (below).
adopt=${PARAM[adoptRolloutId]}
[[ $adopt != "$rid" ]] || adopt=''
ar_heal_interrupted_suspend

# The recovery has just tried this very target and it did not come up: not twice in one
# run (a second outage); ROLLED_BACK with the recovery's reason.
if [[ -n $AR_RECOVERED_TARGET_FAILED && $AR_RECOVERED_TO_T == "$to_t" ]]; then
  ar_write_record "$record" "toVersion=$to_v" "fromVersion=$AR_RECOVERED_FROM_V" "abandonedRelease=$to_rel"
  ar_out_str fromVersion "$AR_RECOVERED_FROM_V"
  ar_out_str toVersion "$to_v"
  ar_out_str currentVersion "$AR_RECOVERED_FROM_V"
  ar_out_str oldRelease
  out_timings
  ar_out_str configureReport
  ar_out_raw jobs "$jobs_json"
  ar_out_str abandonedRelease "$to_rel"
  ar_out_str reason "$AR_RECOVERED_REASON"
  ar_emit ROLLED_BACK
  exit 3
fi

if [[ $from_t == "$to_t" ]]; then
  ar_hook_line running version "$to_rel" "$to_v" ||
    ar_fail 1 "cannot read the running version: $AR_HOOK_ERROR"
  [[ $running == "$to_v" ]] ||
    ar_fail 1 "${AR_P[link_name]} points at $to_t but hook.version reports '${running:0:100}'"
  repaired=''
  if ! ar_run_hook health "$to_rel" "$to_v"; then
    # On the target but nothing serves it (a listener that died, a host rebooted): bring
    # the linked release's listener up rather than report a dead agent as upgraded.
    repaired="on $to_v but not serving ($AR_HOOK_ERROR): restarted its listener"
    ar_log "$repaired"
    ar_hook startListener "$to_rel" "$to_v" ||
      ar_fail 1 "already on $to_v but not serving, and restarting it failed: $AR_HOOK_ERROR"
    ar_wait_healthy "$to_rel" "$to_v" ||
      ar_fail 1 "already on $to_v but not serving, and restarting it did not help: $AR_HEALTH_ERROR"
  fi
  if [[ -n $completed ]]; then
    old_release=$AR_ROOT/$AR_RECOVERED_FROM_T
    ar_record_cutover "$record" "$to_v" "$AR_RECOVERED_FROM_V" "$old_release"
    ar_jobs_json jobs_json "$snapshot"
    ar_out_str fromVersion "$AR_RECOVERED_FROM_V"
    ar_out_str toVersion "$to_v"
    ar_out_str currentVersion "$to_v"
    ar_out_str oldRelease "$old_release"
    out_timings
    ar_out_str configureReport "$AR_CONFIGURE_REPORT"
    ar_out_raw jobs "$jobs_json"
    ar_out_str reason "completed the switch ${AR_RECOVERED_FROM_V} -> $to_v that an interrupted run of rollout $AR_RECOVERED_ROLLOUT left half done"
    ar_emit SWITCHED
    exit 0
  fi
  from_v=$to_v old_release=''
  for owner in "$left_by" "$adopt"; do
    other=$AR_STATE/snapshots/$owner.switch
    if [[ ! -f $record && -n $owner && -f $other && -f ${other%.switch}.jobs ]] &&
      grep -qxF -- "toVersion=$to_v" "$other" && grep -q '^oldRelease=.' -- "$other"; then
      if [[ $owner == "$left_by" ]]; then
        ar_log "taking over the switch of rollout $owner, which left the agent suspended"
      else
        ar_log "taking over the switch of rollout $owner, whose result never reached the ledger"
      fi
      if ! { mv -T -- "${other%.switch}.jobs" "$snapshot" && mv -T -- "$other" "$record"; }; then
        ar_fail 1 "cannot take over the records of rollout $owner"
      fi
    fi
  done
  if [[ -f $record ]]; then
    declare -A done_switch=()
    while IFS='=' read -r key value; do done_switch[$key]=$value; done <"$record"
    if [[ ${done_switch[toVersion]:-} == "$to_v" && -n ${done_switch[oldRelease]:-} ]]; then
      from_v=${done_switch[fromVersion]:-$to_v} old_release=${done_switch[oldRelease]:-}
      [[ ! -f $snapshot ]] || ar_jobs_json jobs_json "$snapshot"
    fi
  fi
  ar_out_str fromVersion "$from_v"
  ar_out_str toVersion "$to_v"
  ar_out_str currentVersion "$to_v"
  ar_out_str oldRelease "$old_release"
  out_timings
  ar_out_str configureReport
  ar_out_raw jobs "$jobs_json"
  [[ -z $repaired ]] || ar_out_str reason "$repaired"
  ar_emit UNCHANGED
  exit 0
fi

if ! ar_staged_sha staged_sha "$to_v" || [[ ! -d $to_rel ]]; then
  ar_fail 1 "release $to_v is not staged ($to_rel): run stage first"
fi
ar_link_target prev_before "${AR_P[previous_link_name]}"
ar_hook_line from_v version "$AR_LIVE_REL" "" ||
  ar_fail 1 "cannot read the running version: $AR_HOOK_ERROR"
ar__matches "$from_v" "$AR_RE_VERSION" ||
  ar_fail 1 "hook.version printed '${from_v:0:100}', not a version"
AR_LIVE_VER=$from_v
export AR_FROM_VERSION=$from_v
ar_state_dir "$AR_STATE/snapshots" 2>"$AR_TMP/state.err" || ar_fail 1 "$(<"$AR_TMP/state.err")"
rm -f -- "$record"
ar_read_endpoint
ar_log "switching $from_v -> $to_v (staged from sha256 $staged_sha)"

# Suspend window: from here to ar_resume only what must happen while suspended.
ar_suspend || ar_fail 1 "suspend failed: $AR_HOOK_ERROR"
ar_snapshot_jobs "$snapshot" "$AR_LIVE_REL" "$AR_LIVE_VER" || ar_fail 1 "cannot snapshot the running jobs: $AR_HOOK_ERROR"
# The configure hook may record the running jobs where the agent wants them
# (Control-M's upgrade_running_jobs.dat).
export AR_JOBS_FILE=$snapshot
# On the way back the config_paths go back to stage's backup of this rollout.
ar_cutover "$from_t" "$from_v" "$to_t" "$to_v" "$from_t" "$prev_before" yes "" "$rid"
# Recorded as soon as the new release serves, before the resume (which may fail or be
# killed): a repeat of this switch then reports it, and cleanup finds the release it left.
case $AR_CUTOVER in
  ok) ar_record_cutover "$record" "$to_v" "$from_v" "${from_t:+$AR_ROOT/$from_t}" ;;
  # Staged, tried and never served: no job ever ran on it, cleanup may delete it.
  reverted) ar_write_record "$record" "toVersion=$to_v" "fromVersion=$from_v" "abandonedRelease=$to_rel" ;;
esac
resume_error=''
ar_resume || resume_error=$AR_HOOK_ERROR
# End of the suspend window.

ar_jobs_json jobs_json "$snapshot"
if [[ $AR_CUTOVER == failed ]]; then
  ar_fail 1 "switch to $to_v failed and $from_v could not be restored: $AR_CUTOVER_REASON"
fi
# Failed or not, the release that serves is known: the FAILED line names it.
[[ -z $resume_error ]] || AR_FAIL_CURRENT=$AR_LIVE_VER
if [[ -n $resume_error && -n $AR_SUSPENDED ]]; then
  ar_fail 1 "agent on ${AR_LIVE_VER} (cutover: $AR_CUTOVER) but left suspended, resume failed: $resume_error; the next switch or rollback resumes it"
elif [[ -n $resume_error ]]; then
  # Resumed, but hook.available never passed.
  ar_fail 1 "agent on ${AR_LIVE_VER} (cutover: $AR_CUTOVER) but resume failed: $resume_error"
fi

ar_out_str fromVersion "$from_v"
ar_out_str toVersion "$to_v"
ar_out_str currentVersion "$AR_LIVE_VER"
ar_out_str oldRelease "${from_t:+$AR_ROOT/$from_t}"
ar_out_str switchMode "$AR_SWITCH_MODE"
ar_out_num suspendMs "$AR_SUSPEND_MS"
ar_out_num listenerGapMs "$AR_LISTENER_GAP_MS"
ar_out_num unservedMs "$AR_UNSERVED_MS"
ar_out_num refused "$AR_REFUSED"
ar_out_num healthMs "$AR_HEALTH_WAIT_MS"
ar_out_str configureReport "$AR_CONFIGURE_REPORT"
ar_out_raw jobs "$jobs_json"
if [[ $AR_CUTOVER == ok ]]; then
  ar_emit SWITCHED
  exit 0
fi
ar_out_str abandonedRelease "$to_rel"
ar_out_str reason "$AR_CUTOVER_REASON"
ar_emit ROLLED_BACK
exit 3
