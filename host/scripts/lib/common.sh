#!/usr/bin/env bash
# lib/common.sh: the frame of every step run. Sourced, never run.
#
# ar_init (traps, private temp dir, bash 5 check; the exit trap runs what ar_at_exit
# registered, removes temporary files and prints a FAILED line if the step printed no
# result), ar_param (the documents' input patterns once more: SSM's allowedPattern is
# the only other guard), writing state files without following symlinks, a fork-free
# clock and sleep, process start ticks (pids are reused).
# Needs: result.sh.
# Inputs (environment): SSM_<parameter> (document parameters, ENV_VAR interpolation),
#   AR_PROFILE_DIR (to recognise the document's bootstrap directory).
# Sets: PARAM (validated parameters), AR_TMP (private temp dir), AR_RE_* (patterns).
# shellcheck shell=bash

# The patterns of docs/contracts.md. lambdas/common/patterns.ts holds the same
# strings; test/host keeps the two in step.
readonly AR_RE_VERSION='^[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$'
readonly AR_RE_OPTIONAL_VERSION='^([0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?)?$'
readonly AR_RE_ROLLOUT_ID='^[A-Za-z0-9_-]{1,80}$'
readonly AR_RE_SHA256='^[a-f0-9]{64}$'
readonly AR_RE_ARTIFACT_URL='^(https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=-]+)+|file:///([A-Za-z0-9._/-]|%[0-9A-F]{2})+)$'
readonly AR_RE_PROFILE='^[a-z][a-z0-9-]{0,31}$'
readonly AR_RE_PREFLIGHT_MODE='^(check|jobCount)$'
readonly AR_RE_OPTIONAL_ROLLOUT_ID='^([A-Za-z0-9_-]{1,80})?$'
readonly AR_VERSION_MAX=64

declare -gA PARAM=()
AR_TMP='' AR_ERR_LINE='' AR_ERR_CMD='' AR_SLEEP_FD='' AR_SIGNAL=''
declare -ga AR_REMOVE_ON_EXIT=() AR_AT_EXIT=()

# --- lifecycle ----------------------------------------------------------------------

ar__on_exit() {
  local rc=$? i
  trap - ERR
  # Whatever failed, the cleanup below must run to the end.
  set +eu
  # Latest first: the agent is resumed (cutover.sh) before the lock goes (lock.sh).
  for ((i = ${#AR_AT_EXIT[@]} - 1; i >= 0; i--)); do "${AR_AT_EXIT[i]}"; done
  ((${#AR_REMOVE_ON_EXIT[@]} == 0)) || rm -rf -- "${AR_REMOVE_ON_EXIT[@]}"
  [[ -z $AR_TMP ]] || rm -rf -- "$AR_TMP"
  if [[ -z $AR_EMITTED ]]; then
    ((rc != 0)) || rc=1
    local err what="unexpected failure (exit $rc) at line ${AR_ERR_LINE:-?}: ${AR_ERR_CMD:-?}"
    [[ -z $AR_SIGNAL ]] || what="interrupted by SIG$AR_SIGNAL"
    ar_json_str err "$what"
    ar_print_result "{\"step\":\"$AR_STEP\",\"status\":\"FAILED\",\"error\":$err}"
  fi
  exit "$rc"
}

# ar_init STEP: traps, temp dir, bash version check. First call of every step script.
ar_init() {
  AR_STEP=$1
  set -E
  trap 'AR_ERR_LINE=$LINENO AR_ERR_CMD=$BASH_COMMAND' ERR
  trap ar__on_exit EXIT
  trap 'AR_SIGNAL=HUP; exit 129' HUP
  trap 'AR_SIGNAL=INT; exit 130' INT
  trap 'AR_SIGNAL=TERM; exit 143' TERM
  # EPOCHREALTIME (fork-free clock) and namerefs need bash 5.
  ((BASH_VERSINFO[0] >= 5)) || ar_fail 1 "bash >= 5 required, found $BASH_VERSION"
  AR_TMP=$(mktemp -d "${TMPDIR:-/tmp}/agent-rollout-$1.XXXXXX") || ar_fail 1 "mktemp failed"
  # Opened once here so that ar_sleep never forks (see there).
  if ! mkfifo -- "$AR_TMP/sleep"; then ar_fail 1 "mkfifo failed"; fi
  exec {AR_SLEEP_FD}<>"$AR_TMP/sleep"
  # Whose directories these are: a run killed without its exit trap (an SSM execution
  # timeout kills the document's bootstrap too) leaves them behind, and the next step
  # to take the host lock removes them. The bootstrap's directory (lib/host-documents:
  # the step script and profiles/ side by side) is recognised by its layout.
  local ticks='' here=${BASH_SOURCE[1]%/*}
  if ar_start_ticks ticks $$; then
    printf '%s %s\n' $$ "$ticks" >"$AR_TMP/owner"
    if [[ $here == "${TMPDIR:-/tmp}"/agent-rollout.* && "$here/profiles" == "${AR_PROFILE_DIR:-}" ]]; then
      printf '%s %s\n' $$ "$ticks" >"$here/owner"
    fi
  fi
  export AR_FROM_VERSION="" AR_TO_VERSION="" AR_ARTIFACT=""
}

# ar__remove_dead_tmp: removes the temporary directories of steps whose owner process
# is gone (see ar_init). A directory without its owner file is left alone: its run may
# be between mktemp and writing it.
ar__remove_dead_tmp() {
  local dir pid ticks
  for dir in "${TMPDIR:-/tmp}"/agent-rollout[.-]*; do
    [[ $dir != "$AR_TMP" && -f $dir/owner ]] || continue
    pid='' ticks=''
    { read -r pid ticks <"$dir/owner"; } 2>/dev/null || continue
    ar_pid_is "$pid" "$ticks" || rm -rf -- "$dir" || :
  done
}

# ar_remove_on_exit PATH: temporary PATH is removed however the step ends.
ar_remove_on_exit() { AR_REMOVE_ON_EXIT+=("$1"); }

# ar_at_exit FUNCTION: FUNCTION runs in the exit trap however the step ends, before
# temporary files are removed; the latest registered runs first. Registering it again
# changes nothing.
ar_at_exit() {
  local f
  for f in "${AR_AT_EXIT[@]}"; do [[ $f != "$1" ]] || return 0; done
  AR_AT_EXIT+=("$1")
}

# --- state files --------------------------------------------------------------------

# Steps run as root and write under the agent's install root: a symlink planted there
# must never be followed, nor another user's directory written in.

# ar_state_dir DIR: DIR, created if missing, is a directory of ours and not a symlink;
# 1 with a message on stderr otherwise.
ar_state_dir() {
  if [[ ! -e $1 && ! -L $1 ]]; then mkdir -p -- "$1" || return 1; fi
  [[ -d $1 && ! -L $1 && -O $1 ]] && return 0
  printf '%s is a symlink, or not a directory owned by uid %s\n' "$1" "$EUID" >&2
  return 1
}

# ar_state_write FILE TEXT: FILE = TEXT, atomically: a new file of a private name in
# the same directory (noclobber: created exclusively, never through a symlink), renamed
# over FILE (which replaces a symlink there rather than follow it).
ar_state_write() {
  local - tmp="${1%/*}/.${1##*/}.ar-new.$$"
  set -C
  ar_state_dir "${1%/*}" || return 1
  if [[ -e $tmp || -L $tmp ]]; then rm -f -- "$tmp" || return 1; fi
  printf '%s' "$2" >"$tmp" && mv -fT -- "$tmp" "$1"
}

# ar_state_create FILE TEXT: creates FILE holding TEXT, failing if anything is there;
# without forking (it is used inside the suspend window).
ar_state_create() {
  local -
  set -C
  if [[ -L $1 || ! -d ${1%/*} || -L ${1%/*} || ! -O ${1%/*} ]]; then
    printf '%s: refusing a symlink, or a directory not owned by uid %s\n' "$1" "$EUID" >&2
    return 1
  fi
  printf '%s' "$2" >"$1"
}

# --- clock --------------------------------------------------------------------------

# ar_now_ms VAR: wall clock in ms without forking (EPOCHREALTIME; its separator
# follows the locale, hence the class).
ar_now_ms() {
  local -n __ar_now=$1
  local __ar_us=${EPOCHREALTIME/[!0-9]/}
  __ar_now=$((10#$__ar_us / 1000))
}

# ar_sleep SECONDS: sleeps without forking: a read with a timeout on a FIFO whose both
# ends we hold (opened by ar_init), so nothing ever arrives and it never returns early.
ar_sleep() {
  read -rt "$1" -u "$AR_SLEEP_FD" _ || :
}

# --- processes ----------------------------------------------------------------------

# ar_start_ticks VAR PID: VAR = start time of PID in clock ticks since boot (field 22
# of /proc/PID/stat). Returns 1 when PID does not exist or is a zombie (a finished
# process nobody has reaped is not a running job).
ar_start_ticks() {
  local -n __ar_ticks=$1
  local __ar_stat=''
  local -a __ar_f
  [[ $2 =~ ^[1-9][0-9]{0,9}$ ]] || return 1
  # Field 2 is "(comm)" and comm may hold spaces, parens and even newlines: read the
  # whole file and split after the last ") ".
  { IFS= read -rd '' __ar_stat <"/proc/$2/stat" || [[ -n $__ar_stat ]]; } 2>/dev/null || return 1
  read -ra __ar_f <<<"${__ar_stat##*) }"
  [[ ${__ar_f[0]:-} != [ZX] && ${__ar_f[19]:-} =~ ^[0-9]+$ ]] || return 1
  __ar_ticks=${__ar_f[19]}
}

# ar_pid_is PID TICKS: PID runs and is the process that had start time TICKS (pids are
# reused).
ar_pid_is() {
  local ticks_now=''
  ar_start_ticks ticks_now "$1" && [[ $ticks_now == "$2" ]]
}

# --- parameters ---------------------------------------------------------------------

ar__matches() {
  # Bracket ranges in other locales may match more than ASCII.
  local LC_ALL=C
  [[ $1 =~ $2 ]]
}

# A '.' or '..' path segment (also percent-encoded) would let the URL name something
# other than what it reads as; the patterns alone admit them.
ar__url_has_dot_segment() {
  local path=${1#*://} seg
  local -a segs
  path=${path#*/}
  IFS=/ read -ra segs <<<"$path"
  for seg in "${segs[@]}"; do
    seg=${seg,,}
    seg=${seg//%2e/.}
    [[ $seg != . && $seg != .. ]] || return 0
  done
  return 1
}

# ar_decode_path VAR ENCODED: the local path of a file URL's percent-encoded path
# (A-Za-z0-9._/- and %XX only, as the artifactUrl pattern and AR_ARTIFACT_DIRS carry
# it) into VAR; exit 2 for a NUL or another control character.
# shellcheck disable=SC2034 # ar__out names the caller's variable
ar_decode_path() {
  local -n ar__out=$1
  local encoded=$2 decoded
  ar__matches "$encoded" '^([A-Za-z0-9._/-]|%[0-9A-Fa-f]{2})*$' ||
    ar_fail 2 "invalid file path encoding: '${encoded:0:100}'"
  ar__matches "$encoded" '%0|%1|%7[Ff]' && ar_fail 2 "file path '${encoded:0:100}' holds a control character"
  printf -v decoded '%b' "${encoded//%/\\x}"
  ar__out=$decoded
}

# ar_param NAME: validates SSM_NAME with NAME's pattern into PARAM[NAME]; exit 2 if
# missing or invalid.
# shellcheck disable=SC2034 # PARAM is read by the step scripts and the files they source
ar_param() {
  local name=$1 var="SSM_$1" value re shown
  if [[ ! -v $var ]]; then
    ar_fail 2 "parameter $name missing: no SSM_$name in the environment (SSM Agent older than 3.3.2746.0 does not support interpolationType ENV_VAR)"
  fi
  value=${!var}
  case $name in
    profile) re=$AR_RE_PROFILE ;;
    targetVersion | releaseVersion) re=$AR_RE_VERSION ;;
    fromVersion | toVersion) re=$AR_RE_OPTIONAL_VERSION ;;
    rolloutId) re=$AR_RE_ROLLOUT_ID ;;
    adoptRolloutId) re=$AR_RE_OPTIONAL_ROLLOUT_ID ;;
    artifactSha256 | snapshotSha256) re=$AR_RE_SHA256 ;;
    artifactUrl) re=$AR_RE_ARTIFACT_URL ;;
    mode) re=$AR_RE_PREFLIGHT_MODE ;;
    *) ar_fail 1 "no pattern for parameter $name" ;;
  esac
  shown=${value:0:100}
  ar__matches "$value" "$re" || ar_fail 2 "invalid $name: '$shown' does not match $re"
  if [[ $re == "$AR_RE_VERSION" || $re == "$AR_RE_OPTIONAL_VERSION" ]] && ((${#value} > AR_VERSION_MAX)); then
    ar_fail 2 "invalid $name: longer than $AR_VERSION_MAX characters"
  fi
  if [[ $name == artifactUrl ]] && ar__url_has_dot_segment "$value"; then
    ar_fail 2 "invalid artifactUrl: '$shown' has a '.' or '..' path segment"
  fi
  PARAM[$name]=$value
}
