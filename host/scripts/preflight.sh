#!/usr/bin/env bash
# preflight.sh: can this host be upgraded to the target version? Read-only.
#
# Reads the running version (hook.version), the free space under install_root and
# asks the profile's compatibility check (hook.preflight). A host already on the
# target and serving it (hook.health), with no interrupted run to finish, is SKIPPED;
# the rest of the rollout leaves it alone. On the target but not serving, suspended
# or half switched by a killed run, it is READY (with a reason) so the switch repairs it.
# With SSM_mode=jobCount it only counts the jobs the agent runs (hook.listJobs lines),
# without the host's step lock: the probe LoadWave sends to order a fewest-jobs rollout.
# Inputs: SSM_profile, SSM_targetVersion, SSM_rolloutId, SSM_mode (check | jobCount,
#   default check); AR_PROFILE_DIR, AR_HOST_ROOT.
# Output: result-sha256 line, then one JSON line, status READY | SKIPPED | COUNTED
#   (exit 0) or FAILED (exit 1, 2 for bad parameters), with currentVersion,
#   targetVersion, freeMb, reason (READY on target), switchRecords (SKIPPED: the other
#   rollouts whose switch to the target left a release here, lib/snapshot.sh
#   ar_switch_records); COUNTED: currentVersion, jobCount, declaredNone
#   (hook.listJobs=none).
# shellcheck source-path=SCRIPTDIR
set -Eeuo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/result.sh"
source "$here/lib/common.sh"
source "$here/lib/profile.sh"
source "$here/lib/releases.sh"
source "$here/lib/lock.sh"
source "$here/lib/hooks.sh"
source "$here/lib/snapshot.sh"

# Filled by lib/ functions through namerefs.
current_t='' current='' free_mb=0 job_count=0 records=

ar_init preflight
ar_param profile
ar_param targetVersion
ar_param rolloutId
ar_param mode
mode=${PARAM[mode]}
ar_load_profile "${PARAM[profile]}"
target=${PARAM[targetVersion]}
export AR_TO_VERSION=$target

# count_jobs VAR RELEASE VERSION: sets VAR to the number of jobs hook.listJobs lists
# (its non-blank lines).
count_jobs() {
  local -n count_=$1
  local line
  count_=0
  ar_run_hook listJobs "$2" "$3" || return 1
  while IFS= read -r line || [[ -n $line ]]; do
    [[ -z ${line//[[:space:]]/} ]] || count_=$((count_ + 1))
  done <"$AR_TMP/hook.out"
}

if [[ $mode == jobCount ]]; then
  # Read-only and lock-free: a probe must never wait behind, nor hold up, a step.
  ar_link_target current_t "${AR_P[link_name]}"
  current_rel=${current_t:+$AR_ROOT/$current_t}
  ar_hook_line current version "$current_rel" "" || current=''
  count_jobs job_count "$current_rel" "$current" ||
    ar_fail 1 "cannot list the running jobs: $AR_HOOK_ERROR"
  ar_out_str currentVersion "$current"
  ar_out_num jobCount "$job_count"
  [[ ${AR_P[hook.listJobs]} != none ]] || ar_out_raw declaredNone true
  ar_emit COUNTED
  exit 0
fi
ar_lock

ar_link_target current_t "${AR_P[link_name]}"
current_rel=${current_t:+$AR_ROOT/$current_t}
ar_hook_line current version "$current_rel" "" ||
  ar_fail 1 "cannot read the running version: $AR_HOOK_ERROR"
ar__matches "$current" "$AR_RE_VERSION" ||
  ar_fail 1 "hook.version printed '${current:0:100}', not a version"
export AR_FROM_VERSION=$current
ar_free_mb free_mb "$AR_ROOT" || ar_fail 1 "cannot read free space under $AR_ROOT"

ar_out_str currentVersion "$current"
ar_out_str targetVersion "$target"
ar_out_num freeMb "$free_mb"

if [[ $current == "$target" ]]; then
  # The link alone does not make a host upgraded: a switch killed after the flip
  # leaves the link on the target with nothing serving it, and a killed run leaves the
  # agent suspended. Such a host is READY, so that the switch repairs it; nothing is
  # installed, so neither free space nor compatibility matters.
  repair=''
  if [[ -f $AR_STATE/cutover ]]; then
    repair="an interrupted switch or rollback left a cutover half done"
  elif [[ -f $AR_STATE/suspended ]]; then
    repair="an interrupted run left the agent suspended"
  elif ! ar_run_hook health "$current_rel" "$current"; then
    repair="on $target but not serving ($AR_HOOK_ERROR)"
  fi
  if [[ -z $repair ]]; then
    ar_switch_records records "$target" "${PARAM[rolloutId]}"
    ar_out_raw switchRecords "$records"
    ar_emit SKIPPED
    exit 0
  fi
  ar_log "$repair: READY so that the switch repairs it"
  ar_out_str reason "$repair"
  ar_emit READY
  exit 0
fi
if ((free_mb < AR_P[min_free_mb])); then
  ar_fail 1 "only ${free_mb} MB free under $AR_ROOT, profile ${PARAM[profile]} needs ${AR_P[min_free_mb]} MB"
fi
ar_hook preflight "$current_rel" "$current" ||
  ar_fail 1 "compatibility check refused $current -> $target: $AR_HOOK_ERROR"
ar_emit READY
