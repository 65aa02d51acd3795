#!/usr/bin/env bash
# cleanup.sh: deletes an old release once no job recorded at the switch still runs
# (the "New Day" step of Control-M: exe_old goes when its jobs are done), or the
# target release a rolled-back switch abandoned.
#
# Only the release the rollout's own switch record $AR_STATE/snapshots/<rolloutId>.switch
# names: as the release it left (oldRelease, whose snapshot <rolloutId>.jobs must have
# the sha256 the orchestrator recorded, the list the ledger holds), or as the target it
# tried and abandoned (abandonedRelease: no job ran on it, the ledger holds the empty
# snapshot; kept if a later stage claimed it again). A job is alive while its pid exists
# AND has the recorded start ticks (pids are reused). The jobs of any other switch away
# from the same release (another rollout's snapshot, after a rollback to it) keep it
# too. Never deletes the release the link points at. A deleted release also loses its
# staged marker and the previous link when that pointed at it; the snapshot files of
# the rollout go too (also when the release was already gone).
# Inputs: SSM_profile, SSM_releaseVersion, SSM_rolloutId, SSM_snapshotSha256;
#   AR_PROFILE_DIR, AR_HOST_ROOT.
# Output: result-sha256 line, then one JSON line, status DELETED | KEPT |
#   ALREADY_DELETED (exit 0) or FAILED (exit 1, 2 for bad parameters), with release,
#   alive, reason (KEPT).
# shellcheck source-path=SCRIPTDIR
set -Eeuo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/result.sh"
source "$here/lib/common.sh"
source "$here/lib/profile.sh"
source "$here/lib/releases.sh"
source "$here/lib/lock.sh"

# Filled by lib/ functions through namerefs.
target='' current_t='' previous_t=''

ar_init cleanup
ar_param profile
ar_param releaseVersion
ar_param rolloutId
ar_param snapshotSha256
ar_load_profile "${PARAM[profile]}"
version=${PARAM[releaseVersion]} rid=${PARAM[rolloutId]} sha=${PARAM[snapshotSha256]}
snapshot=$AR_STATE/snapshots/$rid.jobs
record=$AR_STATE/snapshots/$rid.switch
# sha256 of the empty snapshot: the one the ledger holds for an abandoned release.
readonly empty_sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
ar_lock

ar_release_target target "$version"
release=$AR_ROOT/$target
ar_out_str release "$release"

kept() {
  ar_out_num alive "$1"
  ar_out_str reason "$2"
  ar_emit KEPT
  exit 0
}

declare -A rec=()
if [[ -f $record ]]; then
  while IFS='=' read -r key value; do rec[$key]=$value; done <"$record"
fi
left='' abandoned=''
[[ ${rec[oldRelease]:-} != "$release" ]] || left=1
[[ ${rec[abandonedRelease]:-} != "$release" ]] || abandoned=1

if [[ ! -e $release && ! -L $release ]]; then
  # Deleted by another rollout's cleanup (or by hand): this snapshot has no purpose left.
  [[ -z $left$abandoned ]] || rm -f -- "$snapshot" "$record"
  ar_out_num alive 0
  ar_emit ALREADY_DELETED
  exit 0
fi
ar_link_target current_t "${AR_P[link_name]}"
[[ $target != "$current_t" ]] || kept 0 "$release is the current release"
alive=0
if [[ -n $abandoned ]]; then
  [[ $sha == "$empty_sha" ]] ||
    kept 0 "rollout $rid abandoned $release (no job ran on it): expected the empty snapshot's sha256, got $sha"
  [[ ! $AR_STATE/staged/$version -nt $record ]] ||
    kept 0 "$release was staged again after rollout $rid abandoned it"
else
  # Another switch's snapshot says nothing about this release: it may be staged for the
  # next switch.
  [[ -f $record ]] || kept 0 "no switch record $record on this host"
  [[ -n $left ]] ||
    kept 0 "rollout $rid's switch record $record does not name $release as the release it left"
  [[ -f $snapshot ]] || kept 0 "no job snapshot $snapshot on this host"
  read -r sum _ < <(sha256sum -- "$snapshot") || ar_fail 1 "cannot hash $snapshot"
  [[ $sum == "$sha" ]] || kept 0 "snapshot $snapshot has sha256 $sum, expected $sha"
  [[ -z ${rec[jobsSha256]:-} || ${rec[jobsSha256]} == "$sha" ]] ||
    kept 0 "rollout $rid's switch record $record has snapshot sha256 ${rec[jobsSha256]}, expected $sha"
fi

# count_alive FILE: alive = jobs of snapshot FILE still running, first = one of them.
count_alive() {
  local id pid ticks
  alive=0 first=''
  while read -r id pid ticks; do
    if ar_pid_is "$pid" "$ticks"; then
      alive=$((alive + 1))
      [[ -n $first ]] || first="$id (pid $pid)"
    fi
  done <"$1"
}

[[ -n $abandoned ]] || count_alive "$snapshot"
((alive == 0)) || kept "$alive" "$alive job(s) of the snapshot still running, e.g. $first"

# Other switches away from this same release protect it too: after a rollback to it and
# a new switch away, the new switch's jobs may run from it while this older snapshot's
# jobs are long gone. Its completed switches are those with a .switch record.
for other in "$AR_STATE"/snapshots/*.switch; do
  [[ -f $other && $other != "$record" && -f ${other%.switch}.jobs ]] || continue
  old_release=''
  while IFS='=' read -r key value; do
    [[ $key != oldRelease ]] || old_release=$value
  done <"$other"
  [[ $old_release == "$release" ]] || continue
  count_alive "${other%.switch}.jobs"
  other_id=${other##*/}
  ((alive == 0)) ||
    kept "$alive" "$alive job(s) of rollout ${other_id%.switch}'s snapshot still running on it, e.g. $first"
done

# Renamed first so that it disappears at once, then removed.
gone="${release%/*}/.ar-gone.${release##*/}.$$"
mv -T -- "$release" "$gone" || ar_fail 1 "cannot move $release away"
ar_remove_on_exit "$gone"
rm -f -- "$AR_STATE/staged/$version"
ar_link_target previous_t "${AR_P[previous_link_name]}"
[[ $previous_t != "$target" ]] || ar_point_link "${AR_P[previous_link_name]}" ''
rm -rf -- "$gone" || ar_fail 1 "cannot delete $gone"
# The snapshot has served its purpose; a repeated cleanup finds ALREADY_DELETED.
rm -f -- "$snapshot" "$record"
ar_out_num alive 0
ar_emit DELETED
