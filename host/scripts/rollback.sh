#!/usr/bin/env bash
# rollback.sh: puts the agent back on the release the previous link points at.
#
# Suspend -> job snapshot -> cutover to the previous link's release -> resume, as
# switch.sh; the previous link is then removed (a repeat is UNCHANGED) and the release
# left recorded in $AR_STATE/snapshots/<rolloutId>.switch for cleanup.sh. Unhealthy:
# back where it was, FAILED. The profile's config_paths go back, right after the
# flip, to the backup the stage of the switch to the current release took
# ($AR_STATE/backups/<rolloutId>/). An interrupted cutover is recovered first. With
# fromVersion and toVersion it flips only from fromVersion to a previous release of
# toVersion: already on toVersion is UNCHANGED, anything else SKIPPED (a reason).
# Inputs: SSM_profile, SSM_rolloutId, SSM_fromVersion, SSM_toVersion (both or neither);
#   AR_PROFILE_DIR, AR_HOST_ROOT.
# Output: result-sha256 line, then one JSON line (docs/contracts.md): ROLLED_BACK |
#   UNCHANGED | SKIPPED (exit 0) or FAILED (exit 1, 2 for bad parameters).
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
cur_t='' prev_t='' cur_v='' prev_v='' restore_from=''
jobs_json='{"count":0,"sha256":null,"items":[]}' old_release='' done_from=''

ar_init rollback
ar_param profile
ar_param rolloutId
ar_param fromVersion
ar_param toVersion
expect_from=${PARAM[fromVersion]} expect_to=${PARAM[toVersion]}
[[ -z $expect_from && -z $expect_to ]] || [[ -n $expect_from && -n $expect_to ]] ||
  ar_fail 2 "give fromVersion and toVersion together, or neither"
ar_load_profile "${PARAM[profile]}"
ar_lock
snapshot=$AR_STATE/snapshots/${PARAM[rolloutId]}.jobs
record=$AR_STATE/snapshots/${PARAM[rolloutId]}.switch

# A switch or rollback killed mid-cutover is finished or undone first (see switch.sh).
ar_recover_cutover
ar_link_target cur_t "${AR_P[link_name]}"
ar_link_target prev_t "${AR_P[previous_link_name]}"
AR_LIVE_REL=${cur_t:+$AR_ROOT/$cur_t}
ar_heal_interrupted_suspend
ar_hook_line cur_v version "$AR_LIVE_REL" "" ||
  ar_fail 1 "cannot read the running version: $AR_HOOK_ERROR"
ar__matches "$cur_v" "$AR_RE_VERSION" ||
  ar_fail 1 "hook.version printed '${cur_v:0:100}', not a version"
AR_LIVE_VER=$cur_v

# done_record: when this rollout's rollback completed on this host before (a duplicated
# command, or one completed by recovery), the release it left and its job snapshot.
done_record() {
  local key value
  local -A rec=()
  [[ -f $record ]] || return 0
  while IFS='=' read -r key value; do rec[$key]=$value; done <"$record"
  [[ ${rec[toVersion]:-} == "$cur_v" ]] || return 0
  old_release=${rec[oldRelease]:-} done_from=${rec[fromVersion]:-}
  [[ ! -f $snapshot ]] || ar_jobs_json jobs_json "$snapshot"
}

# finish STATUS FROM TO [REASON]: the result of a rollback that ran no cutover now.
finish() {
  local k
  ar_out_str fromVersion "$2"
  ar_out_str toVersion "$3"
  ar_out_str currentVersion "$cur_v"
  ar_out_str oldRelease "$old_release"
  ar_out_str switchMode
  for k in suspendMs listenerGapMs unservedMs refused; do ar_out_num $k; done
  ar_out_raw jobs "$jobs_json"
  ar_out_str reason "${4:-}"
  ar_emit "$1"
  exit 0
}

# The recovery completed an interrupted rollback: that is what was asked for (unless
# this rollback expects another version).
if [[ $AR_RECOVERED == forward && $AR_RECOVERED_STEP == rollback &&
  (-z $expect_to || $cur_v == "$expect_to") ]]; then
  if [[ -n $expect_to && $AR_RECOVERED_ROLLOUT == "${PARAM[rolloutId]}" && -f $snapshot ]]; then
    ar_record_cutover "$record" "$cur_v" "$AR_RECOVERED_FROM_V" "$AR_ROOT/$AR_RECOVERED_FROM_T"
  fi
  [[ -z $expect_to ]] || done_record
  finish ROLLED_BACK "$AR_RECOVERED_FROM_V" "$AR_RECOVERED_TO_V" \
    "completed the rollback that an interrupted run left half done"
fi

if [[ -n $expect_to ]]; then
  if [[ $cur_v == "$expect_to" ]]; then
    done_record
    finish UNCHANGED "${done_from:-$cur_v}" "$cur_v" "already on $expect_to"
  fi
  [[ $cur_v == "$expect_from" ]] ||
    finish SKIPPED "$cur_v" "$cur_v" "runs $cur_v, not $expect_from: left alone"
fi
if [[ -z $prev_t || $prev_t == "$cur_t" ]]; then
  [[ -z $expect_to ]] ||
    finish SKIPPED "$cur_v" "$cur_v" "no ${AR_P[previous_link_name]} release to go back to (already cleaned): left alone"
  finish UNCHANGED "$cur_v" "$cur_v" "no ${AR_P[previous_link_name]} release to go back to"
fi
ar_version_of_target prev_v "$prev_t" ||
  ar_fail 1 "${AR_P[previous_link_name]} points at '$prev_t', not a release directory of profile ${PARAM[profile]}"
if [[ -n $expect_to && $prev_v != "$expect_to" ]]; then
  finish SKIPPED "$cur_v" "$cur_v" "the ${AR_P[previous_link_name]} release is $prev_v, not $expect_to: left alone"
fi
if [[ ! -d $AR_ROOT/$prev_t ]]; then
  [[ -z $expect_to ]] ||
    finish SKIPPED "$cur_v" "$cur_v" "previous release $AR_ROOT/$prev_t is gone (already cleaned): left alone"
  ar_fail 1 "previous release $AR_ROOT/$prev_t is gone"
fi
export AR_FROM_VERSION=$cur_v AR_TO_VERSION=$prev_v
# Only a whole-rollout rollback (a fresh rolloutId) records a snapshot for the cleanup:
# a Rollback document sent by hand may reuse the id of the switch it undoes.
if [[ -n $expect_to ]]; then
  mkdir -p -- "$AR_STATE/snapshots"
  rm -f -- "$record"
fi
ar_read_endpoint
ar_log "rolling back $cur_v -> $prev_v"

# The config_paths go back to the backup the stage of the switch $prev_v -> $cur_v
# took; the present ones are kept in <rolloutId>.rollback, should $prev_v not come up.
ar_config_backup_of restore_from "$prev_v" "$cur_v"
undo=''
if [[ -n $restore_from ]]; then
  undo=${PARAM[rolloutId]}.rollback
  ar_backup_config "$undo" fresh || ar_fail 1 "$AR_CONFIG_ERROR"
fi

# Suspend window.
ar_suspend || ar_fail 1 "suspend failed: $AR_HOOK_ERROR"
[[ -z $expect_to ]] || ar_snapshot_jobs "$snapshot" "$AR_LIVE_REL" "$cur_v" ||
  ar_fail 1 "cannot snapshot the running jobs: $AR_HOOK_ERROR"
ar_cutover "$cur_t" "$cur_v" "$prev_t" "$prev_v" "" "$prev_t" no "$restore_from" "$undo"
# Recorded as soon as the previous release serves, before the resume (which may fail or
# be killed): a repeat then reports it, and cleanup finds the release it left.
old_release=$AR_ROOT/$cur_t
[[ -z $expect_to || $AR_CUTOVER != ok ]] || ar_record_cutover "$record" "$prev_v" "$cur_v" "$old_release"
resume_error=''
ar_resume || resume_error=$AR_HOOK_ERROR
# End of the suspend window.

case $AR_CUTOVER in
  failed) ar_fail 1 "rollback to $prev_v failed and $cur_v could not be restored: $AR_CUTOVER_REASON" ;;
  reverted) ar_fail 1 "rollback to $prev_v failed, still on $cur_v: $AR_CUTOVER_REASON" ;;
esac
[[ -z $expect_to ]] || ar_jobs_json jobs_json "$snapshot"
[[ -z $resume_error ]] || AR_FAIL_CURRENT=$prev_v ar_fail 1 "rolled back to $prev_v but resume failed: $resume_error"
ar_out_str fromVersion "$cur_v"
ar_out_str toVersion "$prev_v"
ar_out_str currentVersion "$prev_v"
ar_out_str oldRelease "$old_release"
ar_out_str switchMode "$AR_SWITCH_MODE"
ar_out_num suspendMs "$AR_SUSPEND_MS"
ar_out_num listenerGapMs "$AR_LISTENER_GAP_MS"
ar_out_num unservedMs "$AR_UNSERVED_MS"
ar_out_num refused "$AR_REFUSED"
ar_out_raw jobs "$jobs_json"
ar_emit ROLLED_BACK
