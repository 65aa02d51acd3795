#!/usr/bin/env bash
# lib/cutover.sh: moves the agent between releases, shared by switch.sh and
# rollback.sh. Sourced, never run.
#
# The suspend window (and the marker a killed run leaves), the cutover in either
# switch_mode under a client-seen probe, and the recovery of a cutover a killed run
# left half done, from its record $AR_STATE/cutover.
# Needs: common.sh, result.sh, profile.sh, releases.sh, hooks.sh, config.sh.
# Sets: the globals below; the step scripts set AR_LIVE_REL and AR_LIVE_VER before
#   suspending.
# shellcheck shell=bash

# The release the agent runs right now, for the resume hook on any exit path.
AR_LIVE_REL='' AR_LIVE_VER=''
# What ar_recover_cutover found and did.
AR_RECOVERED='' AR_RECOVERED_REASON='' AR_RECOVERED_STEP='' AR_RECOVERED_ROLLOUT=''
AR_RECOVERED_FROM_T='' AR_RECOVERED_FROM_V='' AR_RECOVERED_TO_T='' AR_RECOVERED_TO_V=''
# Set when the recovery went back because the new release did not come up.
AR_RECOVERED_TARGET_FAILED=''
# The suspend window and the outcome of ar_cutover, read by the step scripts.
# shellcheck disable=SC2034
AR_SUSPENDED='' AR_SUSPEND_START_MS='' AR_RESUME_END_MS='' AR_SUSPEND_MS=''
# shellcheck disable=SC2034
AR_CUTOVER='' AR_CUTOVER_REASON='' AR_GAP_START_MS='' AR_HEALTH_WAIT_MS='' AR_CONFIGURE_REPORT=''
# shellcheck disable=SC2034
AR_SWITCH_MODE='' AR_LISTENER_GAP_MS='' AR_UNSERVED_MS='' AR_REFUSED=''
AR_PROBE_ADDR='' AR_PROBE_PORT='' AR_PROBE_PID=''

# --- suspend window -----------------------------------------------------------------

# The marker outlives a run killed while the agent is suspended (SSM timeout kills
# without traps); the next switch or rollback resumes the agent first.
ar_suspend() {
  ar_now_ms AR_SUSPEND_START_MS
  if ! ar_state_create "$AR_STATE/suspended" "$AR_STEP ${PARAM[rolloutId]}"$'\n' 2>"$AR_TMP/state.err"; then
    AR_HOOK_ERROR="cannot write $AR_STATE/suspended: $(<"$AR_TMP/state.err")"
    return 1
  fi
  AR_SUSPENDED=1
  ar_at_exit ar__resume_on_exit
  # Hook output is replayed once the window is over (ar_resume), not inside it.
  AR_DEFER_REPLAY=1
  ar_hook suspend "$AR_LIVE_REL" "$AR_LIVE_VER"
}

# ar__resume_on_exit: the exit trap resumes an agent this run left suspended
# (registered by ar_suspend, after the lock, so it runs while the lock is held).
ar__resume_on_exit() {
  [[ -n $AR_SUSPENDED ]] || return 0
  ar_log "resuming the agent on the way out"
  ar_resume || ar_log "hook.resume failed ($AR_HOOK_ERROR); the next step retries it"
}

# ar__end_deferral: the suspend window is over: replay the hook output it kept.
# shellcheck disable=SC2034 # hooks.sh reads it
ar__end_deferral() {
  AR_DEFER_REPLAY=''
  ar_replay_deferred
}

# ar_resume: resume hook for the release that runs now, then (hook.available) the wait
# until the scheduler dispatches to the agent again, a server that rediscovers it
# asynchronously (Control-M: Suspended -> Discovering -> Available); the window ends
# there: AR_RESUME_END_MS. Fails when either fails (AR_HOOK_ERROR); once the resume
# hook passed the agent counts as resumed (no retry on exit).
# shellcheck disable=SC2034 # AR_SUSPEND_MS is read by the step scripts
ar_resume() {
  local rc=0
  ar_hook resume "$AR_LIVE_REL" "$AR_LIVE_VER" || { ar__end_deferral; return 1; }
  AR_SUSPENDED=''
  ar_wait_available "$AR_LIVE_REL" "$AR_LIVE_VER" || rc=1
  ar_now_ms AR_RESUME_END_MS
  # With hook.suspend=none nothing was suspended: no window to report.
  [[ ${AR_P[hook.suspend]} == none ]] || AR_SUSPEND_MS=$((AR_RESUME_END_MS - AR_SUSPEND_START_MS))
  rm -f -- "$AR_STATE/suspended"
  ar__end_deferral
  return "$rc"
}

# ar_heal_interrupted_suspend: resumes an agent left suspended by a killed run.
ar_heal_interrupted_suspend() {
  local what=''
  [[ -f $AR_STATE/suspended ]] || return 0
  read -r what <"$AR_STATE/suspended" || :
  ar_log "agent left suspended by an interrupted run ($what): resuming it first"
  ar_hook resume "$AR_LIVE_REL" "$AR_LIVE_VER" ||
    ar_fail 1 "agent left suspended by an interrupted run ($what) and $AR_HOOK_ERROR"
  rm -f -- "$AR_STATE/suspended"
}

# ar__cutover FROM_T FROM_V TO_T TO_V PREV_AFTER PREV_BEFORE CONFIGURE RESTORE_FWD RESTORE_BACK
# Moves the agent from release FROM_T to TO_T (relative to AR_ROOT). stop-start: stop
# the listener (jobs keep running), point the link, then previous to PREV_AFTER
# (removed when empty), restore the config backup RESTORE_FWD (if given), configure if
# CONFIGURE=yes, start, health. overlap: the same without the first stop; the old
# listener stops (and drains) once the new one passed. On failure, back: stop the new
# listener, links as they were (previous to PREV_BEFORE), config from backup
# RESTORE_BACK (if given), start the old one (a no-op if it runs), health. Must run suspended. Never exits; sets
# AR_CUTOVER = ok | reverted | failed, AR_CUTOVER_REASON, AR_GAP_START_MS (start of
# the old listener's stop), AR_HEALTH_OK_MS, AR_HEALTH_WAIT_MS (the new release's
# health wait), AR_CONFIGURE_REPORT. The record $AR_STATE/cutover is written before
# anything moves and removed once a release serves again.
# shellcheck disable=SC2034 # its outputs are globals read by the step scripts
ar__cutover() {
  local from_t=$1 from_v=$2 to_t=$3 to_v=$4 prev_after=$5 prev_before=$6 configure=$7
  local restore_fwd=$8 restore_back=$9
  local from_rel=${1:+$AR_ROOT/$1} to_rel=$AR_ROOT/$3 health_start overlap=''
  AR_CUTOVER_REASON='' AR_CONFIGURE_REPORT='' AR_HEALTH_WAIT_MS=''
  [[ $AR_SWITCH_MODE != overlap ]] || overlap=1
  if ! ar__cutover_record "$@" "$AR_SWITCH_MODE" 2>"$AR_TMP/record.err"; then
    # Nothing has moved; without the record a kill from here on could not be repaired.
    AR_CUTOVER_REASON="cannot write the cutover record $AR_STATE/cutover: $(<"$AR_TMP/record.err")"
    ar_now_ms AR_GAP_START_MS
    ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" no "$restore_back"
    return 0
  fi
  ar_now_ms AR_GAP_START_MS
  if [[ -z $overlap ]] && ! ar_hook stopListener "$from_rel" "$from_v"; then
    # The old listener may still run: nothing has moved, make sure it serves.
    AR_CUTOVER_REASON=$AR_HOOK_ERROR
    ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" no "$restore_back"
    return 0
  fi
  if ! ar_point_link "${AR_P[link_name]}" "$to_t"; then
    AR_CUTOVER_REASON="cannot point ${AR_P[link_name]} at $to_t"
    ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" no "$restore_back"
    return 0
  fi
  AR_LIVE_REL=$to_rel AR_LIVE_VER=$to_v
  # The previous link moves with the link, before configuration (Control-M renames exe
  # to exe_old at step 8, configures at step 10): configure may rely on it.
  ar_point_link "${AR_P[previous_link_name]}" "$prev_after" ||
    ar_log "cannot update ${AR_P[previous_link_name]} (continuing)"
  if ! ar_restore_config "$restore_fwd"; then
    AR_CUTOVER_REASON=$AR_CONFIG_ERROR
  elif [[ $configure == yes ]] && ! ar_hook_line AR_CONFIGURE_REPORT configure "$to_rel" "$to_v"; then
    AR_CUTOVER_REASON=$AR_HOOK_ERROR
  elif ! ar_hook startListener "$to_rel" "$to_v"; then
    AR_CUTOVER_REASON=$AR_HOOK_ERROR
  else
    ar_now_ms health_start
    if ar_wait_healthy "$to_rel" "$to_v"; then
      AR_HEALTH_WAIT_MS=$((AR_HEALTH_OK_MS - health_start))
      # overlap: the new listener serves, the old one finishes what it has in flight.
      # If it cannot be stopped, two listeners would serve: back to it instead.
      if [[ -n $overlap && -n $from_rel ]] && { ar_now_ms AR_GAP_START_MS &&
        ! ar_hook stopListener "$from_rel" "$from_v"; }; then
        AR_CUTOVER_REASON="$to_v serves, but stopping the listener of $from_v failed: $AR_HOOK_ERROR"
      else
        AR_CUTOVER=ok
        ar__cutover_done
        return 0
      fi
    else
      ar_now_ms AR_HEALTH_WAIT_MS
      AR_HEALTH_WAIT_MS=$((AR_HEALTH_WAIT_MS - health_start))
      AR_CUTOVER_REASON=$AR_HEALTH_ERROR
    fi
  fi
  ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" yes "$restore_back"
}

# shellcheck disable=SC2034 # see ar_cutover
ar__cutover_back() {
  local from_t=$1 from_v=$2 to_rel=$3 to_v=$4 prev_before=$5 stop_new=$6 restore_back=$7
  local from_rel=${1:+$AR_ROOT/$1}
  ar_log "going back to ${from_v:-the previous state}: $AR_CUTOVER_REASON"
  AR_CUTOVER=failed
  if [[ $stop_new == yes ]] && ! ar_hook stopListener "$to_rel" "$to_v"; then
    AR_CUTOVER_REASON+="; then stopping $to_v failed too ($AR_HOOK_ERROR)"
    return 0
  fi
  # A flip that failed left the link where it was (the same may stop it being pointed
  # again, e.g. a read-only directory): the old listener must start all the same.
  if ! ar_point_link "${AR_P[link_name]}" "$from_t" && ! ar__link_is "${AR_P[link_name]}" "$from_t"; then
    AR_CUTOVER_REASON+="; then restoring ${AR_P[link_name]} failed"
    return 0
  fi
  AR_LIVE_REL=$from_rel AR_LIVE_VER=$from_v
  ar_point_link "${AR_P[previous_link_name]}" "$prev_before" ||
    ar_log "cannot restore ${AR_P[previous_link_name]} (continuing)"
  # What install and configure changed outside the releases goes back with the link.
  ar_restore_config "$restore_back" ||
    AR_CUTOVER_REASON+="; then restoring the configuration failed ($AR_CONFIG_ERROR)"
  # The old listener may have survived a failed stop: starting it again must be
  # harmless (profiles' startListener is idempotent), and health decides.
  if ! ar_hook startListener "$from_rel" "$from_v"; then
    AR_CUTOVER_REASON+="; then restarting $from_v failed ($AR_HOOK_ERROR)"
  elif ! ar_wait_healthy "$from_rel" "$from_v"; then
    AR_CUTOVER_REASON+="; then $AR_HEALTH_ERROR"
  else
    AR_CUTOVER=reverted
    ar__cutover_done
  fi
}

# ar__link_is LINK TARGET: $AR_ROOT/LINK points at TARGET (relative), or is absent
# when TARGET is empty. Never fails the step (ar_link_target would).
ar__link_is() {
  local t=''
  if [[ -L $AR_ROOT/$1 ]]; then
    t=$(readlink -- "$AR_ROOT/$1") || return 1
  elif [[ -e $AR_ROOT/$1 ]]; then
    return 1
  fi
  [[ ${t#"$AR_ROOT/"} == "$2" ]]
}

# --- client-seen probe ---------------------------------------------------------------

# ar_read_endpoint: AR_PROBE_ADDR and AR_PROBE_PORT from hook.endpoint ("<address>
# <port>"), if the profile has one. Call it before suspending: it forks a hook.
ar_read_endpoint() {
  local line=''
  [[ -n ${AR_P[hook.endpoint]} ]] || return 0
  if ! ar_hook_line line endpoint "$AR_LIVE_REL" "$AR_LIVE_VER" ||
    [[ ! $line =~ ^([0-9a-fA-F.:]+)\ ([1-9][0-9]{0,4})$ ]]; then
    ar_fail 1 "hook.endpoint printed '${line:0:100}', expected '<address> <port>' $AR_HOOK_ERROR"
  fi
  AR_PROBE_ADDR=${BASH_REMATCH[1]} AR_PROBE_PORT=${BASH_REMATCH[2]}
}

# ar__probe: connects to the endpoint every 2 ms as a client would (builtins only)
# until $AR_TMP/probe.stop exists or the step is gone; prints "<unservedMs> <refused>":
# refused connections, and the time from each refused one to the next accepted, summed.
ar__probe() {
  local fd t down='' refused=0 unserved=0 end
  ar_now_ms t
  # shellcheck disable=SC2154 # AR_P is profile.sh's associative array
  end=$((t + (3 * AR_P[hook_timeout_s] + AR_P[health_timeout_s]) * 1000))
  while [[ ! -e $AR_TMP/probe.stop ]] && ((t < end)) && kill -0 $$ 2>/dev/null; do
    if { exec {fd}<>"/dev/tcp/$AR_PROBE_ADDR/$AR_PROBE_PORT"; } 2>/dev/null; then
      exec {fd}>&-
      [[ -z $down ]] || unserved=$((unserved + t - down)) down=''
    else
      refused=$((refused + 1)) down=${down:-$t}
    fi
    ar_sleep 0.002
    ar_now_ms t
  done
  [[ -z $down ]] || unserved=$((unserved + t - down))
  printf '%s %s\n' "$unserved" "$refused"
}

# ar__holder_serves: the socket holder of $AR_STATE/socket-holder runs.
ar__holder_serves() {
  local pid='' ticks=''
  { read -r pid ticks <"$AR_STATE/socket-holder/pid"; } 2>/dev/null && ar_pid_is "$pid" "$ticks"
}

# ar_cutover ARGS: ar__cutover ARGS under the probe, in switch_mode overlap only while
# a socket holder serves (else the old listener must free the port first). Sets
# AR_SWITCH_MODE (the order used), AR_LISTENER_GAP_MS (stop-start: start of
# stopListener to the first passing health check; overlap: 0), AR_UNSERVED_MS,
# AR_REFUSED (empty without hook.endpoint).
# shellcheck disable=SC2034
ar_cutover() {
  local u='' r=''
  AR_SWITCH_MODE=${AR_P[switch_mode]} AR_PROBE_PID=''
  if [[ $AR_SWITCH_MODE == overlap ]] && ! ar__holder_serves; then
    AR_SWITCH_MODE=stop-start
    ar_log "no socket holder runs (first overlap switch here, or it died): stop-start"
  fi
  if [[ -n $AR_PROBE_PORT ]]; then
    ar__probe >"$AR_TMP/probe" &
    AR_PROBE_PID=$!
  fi
  ar__cutover "$@"
  if [[ -n $AR_PROBE_PID ]]; then
    : >"$AR_TMP/probe.stop"
    wait "$AR_PROBE_PID" || :
    read -r u r <"$AR_TMP/probe" || :
  fi
  AR_UNSERVED_MS=$u AR_REFUSED=$r AR_LISTENER_GAP_MS=0
  [[ $AR_SWITCH_MODE == overlap || $AR_CUTOVER == failed ]] ||
    AR_LISTENER_GAP_MS=$((AR_HEALTH_OK_MS - AR_GAP_START_MS))
}

# --- interrupted cutovers -----------------------------------------------------------

# ar__cutover_record FROM_T FROM_V TO_T TO_V PREV_AFTER PREV_BEFORE CONFIGURE RESTORE_FWD
# RESTORE_BACK MODE: writes
# $AR_STATE/cutover, one key=value per line (a builtin printf, no fork inside the
# suspend window). "end=1" comes last: a record without it was cut short by a kill
# before the cutover changed anything.
ar__cutover_record() {
  local text
  printf -v text 'step=%s\nrolloutId=%s\nfromTarget=%s\nfromVersion=%s\ntoTarget=%s\ntoVersion=%s\nprevAfter=%s\nprevBefore=%s\nconfigure=%s\nrestoreForward=%s\nrestoreBack=%s\nmode=%s\nend=1\n' \
    "$AR_STEP" "${PARAM[rolloutId]:--}" "$@"
  ar_state_create "$AR_STATE/cutover" "$text"
}

# ar__cutover_done: the agent serves again; the record has done its job.
ar__cutover_done() {
  rm -f -- "$AR_STATE/cutover" || ar_log "cannot remove $AR_STATE/cutover (the next run finds the cutover complete)"
}

# ar__valid_target TARGET: TARGET (relative to AR_ROOT) is a release directory of this
# profile, or empty. A record is our own file, but it names links to point: checked.
ar__valid_target() {
  local __ar_v=''
  [[ -z $1 ]] || ar_version_of_target __ar_v "$1"
}

# ar_recover_cutover: repairs what a killed switch or rollback left half done, from
# its record, before the step does anything else. Link on the old release: start its
# listener (idempotent), health. Link on the new one: complete the cutover (previous
# link, configure if recorded, start, health; overlap: stop the old listener, first if
# no holder runs, back if it cannot be stopped), or go back as ar__cutover would. Leaves the agent suspended (if it
# was). Fails the step when no release can be brought to serve (the record then stays).
# Sets AR_RECOVERED = '' (nothing to recover) | forward | back, AR_RECOVERED_STEP,
# AR_RECOVERED_ROLLOUT, AR_RECOVERED_FROM_T, AR_RECOVERED_FROM_V, AR_RECOVERED_TO_T,
# AR_RECOVERED_TO_V, AR_RECOVERED_REASON (why it went back) and
# AR_RECOVERED_TARGET_FAILED.
# shellcheck disable=SC2034 # its outputs are globals read by the step scripts
ar_recover_cutover() {
  local file=$AR_STATE/cutover key value cur_t='' to_rel from_rel k
  local -A rec=()
  AR_RECOVERED='' AR_RECOVERED_REASON=''
  [[ -f $file ]] || return 0
  while IFS='=' read -r key value || [[ -n $key ]]; do
    [[ -z $key ]] || rec[$key]=$value
  done <"$file"
  if [[ ${rec[end]:-} != 1 ]]; then
    ar_log "removing a cutover record cut short before the cutover began"
    rm -f -- "$file" || ar_fail 1 "cannot remove $file"
    return 0
  fi
  for k in fromTarget toTarget prevAfter prevBefore; do
    ar__valid_target "${rec[$k]:-}" || ar_fail 1 "corrupt cutover record $file: $k '${rec[$k]:-}'"
  done
  [[ -n ${rec[toTarget]} ]] || ar_fail 1 "corrupt cutover record $file: no toTarget"
  for k in fromVersion toVersion; do
    [[ -z ${rec[$k]:-} ]] || ar__matches "${rec[$k]}" "$AR_RE_VERSION" ||
      ar_fail 1 "corrupt cutover record $file: $k '${rec[$k]:0:80}'"
  done
  for k in restoreForward restoreBack; do
    [[ -z ${rec[$k]:-} ]] || ar__matches "${rec[$k]}" '^[A-Za-z0-9_-]{1,80}(\.rollback)?$' ||
      ar_fail 1 "corrupt cutover record $file: $k '${rec[$k]:0:80}'"
  done
  AR_RECOVERED_STEP=${rec[step]:-?} AR_RECOVERED_ROLLOUT=${rec[rolloutId]:--}
  AR_RECOVERED_FROM_T=${rec[fromTarget]} AR_RECOVERED_FROM_V=${rec[fromVersion]:-}
  AR_RECOVERED_TO_T=${rec[toTarget]} AR_RECOVERED_TO_V=${rec[toVersion]:-}
  to_rel=$AR_ROOT/${rec[toTarget]} from_rel=${rec[fromTarget]:+$AR_ROOT/${rec[fromTarget]}}
  local what="${AR_RECOVERED_STEP} ${AR_RECOVERED_FROM_V:-?} -> ${AR_RECOVERED_TO_V:-?} of rollout ${AR_RECOVERED_ROLLOUT}"
  ar_link_target cur_t "${AR_P[link_name]}"
  ar_log "an interrupted run left a cutover half done ($what); ${AR_P[link_name]} -> ${cur_t:-nothing}: recovering"

  if [[ $cur_t == "${rec[toTarget]}" ]]; then
    # The link was flipped: finish the cutover if the new release comes up.
    AR_LIVE_REL=$to_rel AR_LIVE_VER=$AR_RECOVERED_TO_V
    # As in ar__cutover: the previous link is set before configuration.
    ar_point_link "${AR_P[previous_link_name]}" "${rec[prevAfter]}" ||
      ar_log "cannot update ${AR_P[previous_link_name]} (continuing)"
    # overlap: the old listener may still serve. With no holder the new one cannot start
    # beside it: stop it first (stop-start); if that fails it serves on, go back to it.
    local old=$from_rel stop_new=yes
    [[ ${rec[mode]:-} == overlap ]] || old=''
    if [[ -n $old ]] && ! ar__holder_serves; then
      ar_log "no socket holder runs: stopping ${AR_RECOVERED_FROM_V} first"
      old=''
      ar_hook stopListener "$from_rel" "$AR_RECOVERED_FROM_V" || stop_new=no AR_CUTOVER_REASON=$AR_HOOK_ERROR
    fi
    if [[ $stop_new == no ]]; then :
    elif ! ar_restore_config "${rec[restoreForward]:-}"; then
      AR_CUTOVER_REASON=$AR_CONFIG_ERROR
    elif [[ ${rec[configure]:-} == yes ]] &&
      ! ar_hook_line AR_CONFIGURE_REPORT configure "$to_rel" "$AR_RECOVERED_TO_V"; then
      AR_CUTOVER_REASON=$AR_HOOK_ERROR
    elif ! ar_hook startListener "$to_rel" "$AR_RECOVERED_TO_V"; then
      AR_CUTOVER_REASON=$AR_HOOK_ERROR
    elif ! ar_wait_healthy "$to_rel" "$AR_RECOVERED_TO_V"; then
      AR_CUTOVER_REASON=$AR_HEALTH_ERROR
    else
      # As in ar__cutover: an old listener that cannot be stopped is gone back to.
      if [[ -n $old ]] && ! ar_hook stopListener "$from_rel" "$AR_RECOVERED_FROM_V"; then
        AR_CUTOVER_REASON="stopping the listener of ${AR_RECOVERED_FROM_V} failed: $AR_HOOK_ERROR"
      else
        AR_RECOVERED=forward
      fi
    fi
    if [[ -z $AR_RECOVERED ]]; then
      AR_RECOVERED_REASON="completing the interrupted $what failed: $AR_CUTOVER_REASON"
      AR_CUTOVER_REASON=$AR_RECOVERED_REASON
      ar__cutover_back "${rec[fromTarget]}" "$AR_RECOVERED_FROM_V" "$to_rel" "$AR_RECOVERED_TO_V" \
        "${rec[prevBefore]}" "$stop_new" "${rec[restoreBack]:-}"
      [[ $AR_CUTOVER == reverted ]] ||
        ar_fail 1 "cannot recover the interrupted $what: $AR_CUTOVER_REASON"
      AR_RECOVERED=back
      [[ $stop_new == no ]] || AR_RECOVERED_TARGET_FAILED=1
    fi
  elif [[ $cur_t == "${rec[fromTarget]}" ]]; then
    # The link was not flipped, or was flipped back: the old release must serve.
    AR_LIVE_REL=$from_rel AR_LIVE_VER=$AR_RECOVERED_FROM_V
    # A run killed on its way back may have flipped the link back without this.
    ar_restore_config "${rec[restoreBack]:-}" ||
      ar_log "restoring the configuration failed ($AR_CONFIG_ERROR; continuing)"
    if ! ar_hook startListener "$from_rel" "$AR_RECOVERED_FROM_V"; then
      ar_fail 1 "cannot recover the interrupted $what: restarting ${AR_RECOVERED_FROM_V} failed ($AR_HOOK_ERROR)"
    fi
    if ! ar_wait_healthy "$from_rel" "$AR_RECOVERED_FROM_V"; then
      ar_fail 1 "cannot recover the interrupted $what: $AR_HEALTH_ERROR"
    fi
    ar_point_link "${AR_P[previous_link_name]}" "${rec[prevBefore]}" ||
      ar_log "cannot restore ${AR_P[previous_link_name]} (continuing)"
    AR_RECOVERED=back AR_RECOVERED_REASON="the interrupted $what had not switched; ${AR_RECOVERED_FROM_V} serves again"
  else
    ar_fail 1 "cannot recover the interrupted $what: ${AR_P[link_name]} points at '${cur_t}', neither ${rec[fromTarget]:-nothing} nor ${rec[toTarget]}; repair the host by hand, then remove $file"
  fi
  rm -f -- "$file" || ar_fail 1 "cannot remove $file"
  ar_log "recovered ($AR_RECOVERED): ${AR_LIVE_VER} serves"
}
