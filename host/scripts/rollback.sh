#!/usr/bin/env bash
# rollback.sh: puts the agent back on the release the previous link points at.
#
# Same primitives as switch.sh: suspend -> stop the listener (jobs keep running) ->
# flip the link to the previous release -> start it -> health -> resume. The previous
# link is removed afterwards, so a duplicated rollback finds nothing to do
# (UNCHANGED) instead of flipping forward again. If the previous release does not
# come up healthy, the agent goes back to where it was and the step FAILS. The
# profile's config_paths go back, right after the flip, to the backup the stage of
# the switch to the current release took ($AR_STATE/backups/<rolloutId>/). A switch or
# rollback killed mid-cutover is finished or undone first (ar_recover_cutover); an
# interrupted rollback completed that way is reported ROLLED_BACK.
# Inputs: SSM_profile, SSM_rolloutId; AR_PROFILE_DIR, AR_HOST_ROOT.
# Output: result-sha256 line, then one JSON line, status ROLLED_BACK | UNCHANGED (exit
#   0) or FAILED (exit 1, 2 for bad parameters), with fromVersion, toVersion,
#   currentVersion, switchMode, suspendMs, listenerGapMs, unservedMs, refused, reason
#   (UNCHANGED, and ROLLED_BACK by recovery).
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

# Filled by lib/ functions through namerefs.
cur_t='' prev_t='' cur_v='' prev_v='' restore_from=''

ar_init rollback
ar_param profile
ar_param rolloutId
ar_load_profile "${PARAM[profile]}"
ar_lock

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

# The recovery completed an interrupted rollback: that is what was asked for.
if [[ $AR_RECOVERED == forward && $AR_RECOVERED_STEP == rollback ]]; then
  ar_out_str fromVersion "$AR_RECOVERED_FROM_V"
  ar_out_str toVersion "$AR_RECOVERED_TO_V"
  ar_out_str currentVersion "$cur_v"
  ar_out_str switchMode
  for k in suspendMs listenerGapMs unservedMs refused; do ar_out_num $k; done
  ar_out_str reason "completed the rollback that an interrupted run left half done"
  ar_emit ROLLED_BACK
  exit 0
fi
ar_out_str fromVersion "$cur_v"

if [[ -z $prev_t || $prev_t == "$cur_t" ]]; then
  ar_out_str toVersion "$cur_v"
  ar_out_str currentVersion "$cur_v"
  ar_out_str switchMode
  for k in suspendMs listenerGapMs unservedMs refused; do ar_out_num $k; done
  ar_out_str reason "no ${AR_P[previous_link_name]} release to go back to"
  ar_emit UNCHANGED
  exit 0
fi
ar_version_of_target prev_v "$prev_t" ||
  ar_fail 1 "${AR_P[previous_link_name]} points at '$prev_t', not a release directory of profile ${PARAM[profile]}"
[[ -d $AR_ROOT/$prev_t ]] || ar_fail 1 "previous release $AR_ROOT/$prev_t is gone"
export AR_FROM_VERSION=$cur_v AR_TO_VERSION=$prev_v
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
ar_cutover "$cur_t" "$cur_v" "$prev_t" "$prev_v" "" "$prev_t" no "$restore_from" "$undo"
resume_error=''
ar_resume || resume_error=$AR_HOOK_ERROR
# End of the suspend window.

case $AR_CUTOVER in
  failed) ar_fail 1 "rollback to $prev_v failed and $cur_v could not be restored: $AR_CUTOVER_REASON" ;;
  reverted) ar_fail 1 "rollback to $prev_v failed, still on $cur_v: $AR_CUTOVER_REASON" ;;
esac
[[ -z $resume_error ]] || ar_fail 1 "rolled back to $prev_v but resume failed: $resume_error"
ar_out_str toVersion "$prev_v"
ar_out_str currentVersion "$prev_v"
ar_out_str switchMode "$AR_SWITCH_MODE"
ar_out_num suspendMs "$AR_SUSPEND_MS"
ar_out_num listenerGapMs "$AR_LISTENER_GAP_MS"
ar_out_num unservedMs "$AR_UNSERVED_MS"
ar_out_num refused "$AR_REFUSED"
ar_emit ROLLED_BACK
