#!/usr/bin/env bash
# lib.sh: primitives shared by the agent-rollout host steps. Sourced, never run.
#
# What: parameter validation (the documents' patterns once more: SSM's allowedPattern
# is the only other guard), profile loading, the one-line JSON result, the host mutex,
# the hook runner, a fork-free millisecond clock, process start ticks, and the cutover
# primitives (suspend, listener stop/start, link flip, health wait, resume) that
# switch.sh and rollback.sh share.
# Inputs (environment): SSM_<parameter> (document parameters, ENV_VAR interpolation),
#   AR_PROFILE_DIR (directory holding <profile>.profile), AR_HOST_ROOT (optional
#   prefix of install_root), AR_LOCK_WAIT_S (optional, seconds to wait for the mutex,
#   default 300).
# Output: nothing by itself; ar_emit and ar_fail print the step's single result line
#   on stdout. Everything else goes to stderr.
# shellcheck shell=bash

# The patterns of docs/contracts.md. lambdas/common/patterns.ts holds the same
# strings; test/host keeps the two in step.
readonly AR_RE_VERSION='^[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$'
readonly AR_RE_ROLLOUT_ID='^[A-Za-z0-9_-]{1,80}$'
readonly AR_RE_SHA256='^[a-f0-9]{64}$'
readonly AR_RE_ARTIFACT_URL='^(https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=-]+)+|file:///[A-Za-z0-9._/-]+)$'
readonly AR_RE_PROFILE='^[a-z][a-z0-9-]{0,31}$'
readonly AR_VERSION_MAX=64

declare -gA PARAM=() AR_P=() AR_OUT=()
declare -ga AR_OUT_KEYS=()
AR_STEP=unknown AR_EMITTED='' AR_LOCKED='' AR_SUSPENDED='' AR_TMP='' AR_ROOT='' AR_STATE=''
AR_ERR_LINE='' AR_ERR_CMD='' AR_HOOK_ERROR='' AR_SLEEP_FD='' AR_SIGNAL=''
declare -ga AR_REMOVE_ON_EXIT=()
# The release the agent runs right now, for the resume hook on any exit path.
AR_LIVE_REL='' AR_LIVE_VER=''
# What ar_recover_cutover found and did.
AR_RECOVERED='' AR_RECOVERED_REASON='' AR_RECOVERED_STEP='' AR_RECOVERED_ROLLOUT=''
AR_RECOVERED_FROM_T='' AR_RECOVERED_FROM_V='' AR_RECOVERED_TO_T='' AR_RECOVERED_TO_V=''

ar_log() { printf '[%s] %s\n' "$AR_STEP" "$*" >&2; }

# --- result line --------------------------------------------------------------------

# Functions that return through a nameref (first argument VAR) name their locals
# __ar_*: a local with the caller's variable name would capture the result.

# ar_json_str VAR STRING: VAR = STRING as a JSON string literal (quotes included).
ar_json_str() {
  local -n __ar_js=$1
  local __ar_s=$2 __ar_i __ar_hex __ar_ch
  if [[ $__ar_s == *[\"\\[:cntrl:]]* ]]; then
    __ar_s=${__ar_s//\\/\\\\}
    __ar_s=${__ar_s//\"/\\\"}
    __ar_s=${__ar_s//$'\n'/\\n}
    __ar_s=${__ar_s//$'\r'/\\r}
    __ar_s=${__ar_s//$'\t'/\\t}
    if [[ $__ar_s == *[[:cntrl:]]* ]]; then
      for __ar_i in {1..31} 127; do
        printf -v __ar_hex '%02x' "$__ar_i"
        printf -v __ar_ch %b "\\x$__ar_hex"
        __ar_s=${__ar_s//"$__ar_ch"/\\u00$__ar_hex}
      done
    fi
  fi
  __ar_js="\"$__ar_s\""
}

# Fields of the result line, in the order they are first set.
ar__out() {
  [[ -v AR_OUT[$1] ]] || AR_OUT_KEYS+=("$1")
  AR_OUT[$1]=$2
}
ar_out_str() {
  local v
  if [[ $# -lt 2 || -z $2 ]]; then v=null; else ar_json_str v "$2"; fi
  ar__out "$1" "$v"
}
ar_out_num() {
  if [[ ${2:-} =~ ^-?[0-9]+$ ]]; then ar__out "$1" "$2"; else ar__out "$1" null; fi
}
ar_out_raw() { ar__out "$1" "$2"; }

# ar_emit STATUS: prints the result line. Exactly one line per run, always last.
ar_emit() {
  local line key
  line="{\"step\":\"$AR_STEP\",\"status\":\"$1\""
  for key in "${AR_OUT_KEYS[@]}"; do line+=",\"$key\":${AR_OUT[$key]}"; done
  printf '%s}\n' "$line"
  AR_EMITTED=1
}

# ar_fail CODE MESSAGE: prints the FAILED line and exits with CODE (2 = bad parameters,
# nothing touched; 1 = any other failure). The exit trap then resumes the agent if it
# is suspended and releases the mutex. Never call it inside $(...).
ar_fail() {
  local err
  if [[ -z $AR_EMITTED ]]; then
    ar_json_str err "$2"
    printf '{"step":"%s","status":"FAILED","error":%s}\n' "$AR_STEP" "$err"
    AR_EMITTED=1
  fi
  ar_log "FAILED: $2"
  exit "$1"
}

# --- lifecycle ----------------------------------------------------------------------

ar__on_exit() {
  local rc=$?
  trap - ERR
  # Whatever failed, the cleanup below must run to the end.
  set +eu
  if [[ -n $AR_SUSPENDED ]]; then
    ar_log "resuming the agent on the way out"
    ar_resume || ar_log "hook.resume failed ($AR_HOOK_ERROR); the next step retries it"
  fi
  ar__unlock
  ((${#AR_REMOVE_ON_EXIT[@]} == 0)) || rm -rf -- "${AR_REMOVE_ON_EXIT[@]}"
  [[ -z $AR_TMP ]] || rm -rf -- "$AR_TMP"
  if [[ -z $AR_EMITTED ]]; then
    ((rc != 0)) || rc=1
    local err what="unexpected failure (exit $rc) at line ${AR_ERR_LINE:-?}: ${AR_ERR_CMD:-?}"
    [[ -z $AR_SIGNAL ]] || what="interrupted by SIG$AR_SIGNAL"
    ar_json_str err "$what"
    printf '{"step":"%s","status":"FAILED","error":%s}\n' "$AR_STEP" "$err"
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

# ar_param NAME: validates SSM_NAME with NAME's pattern into PARAM[NAME]; exit 2 if
# missing or invalid.
ar_param() {
  local name=$1 var="SSM_$1" value re shown
  if [[ ! -v $var ]]; then
    ar_fail 2 "parameter $name missing: no SSM_$name in the environment (SSM Agent older than 3.3.2746.0 does not support interpolationType ENV_VAR)"
  fi
  value=${!var}
  case $name in
    profile) re=$AR_RE_PROFILE ;;
    targetVersion | releaseVersion) re=$AR_RE_VERSION ;;
    rolloutId) re=$AR_RE_ROLLOUT_ID ;;
    artifactSha256 | snapshotSha256) re=$AR_RE_SHA256 ;;
    artifactUrl) re=$AR_RE_ARTIFACT_URL ;;
    *) ar_fail 1 "no pattern for parameter $name" ;;
  esac
  shown=${value:0:100}
  ar__matches "$value" "$re" || ar_fail 2 "invalid $name: '$shown' does not match $re"
  if [[ $re == "$AR_RE_VERSION" ]] && ((${#value} > AR_VERSION_MAX)); then
    ar_fail 2 "invalid $name: longer than $AR_VERSION_MAX characters"
  fi
  if [[ $name == artifactUrl ]] && ar__url_has_dot_segment "$value"; then
    ar_fail 2 "invalid artifactUrl: '$shown' has a '.' or '..' path segment"
  fi
  PARAM[$name]=$value
}

# --- profile ------------------------------------------------------------------------

readonly -a AR_PROFILE_REQUIRED=(install_root hook.version hook.suspend hook.resume
  hook.stopListener hook.startListener hook.health hook.listJobs)
readonly -a AR_PROFILE_OPTIONAL=(description releases_dir release_name link_name
  previous_link_name artifact min_free_mb hook_timeout_s health_timeout_s
  hook.preflight hook.install hook.configure)

# ar_load_profile NAME: parses $AR_PROFILE_DIR/NAME.profile into AR_P (defaults
# applied) and sets AR_HOST_ROOT, AR_ROOT, AR_STATE. The file is data: lines are split
# at the first '=', nothing in it is evaluated here.
ar_load_profile() {
  local name=$1 file line key value n=0 k
  local -A known=() seen=()
  [[ -n ${AR_PROFILE_DIR:-} ]] || ar_fail 2 "AR_PROFILE_DIR is not set"
  file="$AR_PROFILE_DIR/$name.profile"
  [[ -f $file && -r $file ]] || ar_fail 2 "unknown profile '$name' (no $file)"
  for k in "${AR_PROFILE_REQUIRED[@]}" "${AR_PROFILE_OPTIONAL[@]}"; do known[$k]=1; done
  AR_P=([releases_dir]=releases [release_name]='{version}' [link_name]=current
    [previous_link_name]=previous [artifact]=tar.gz [min_free_mb]=100
    [hook_timeout_s]=60 [health_timeout_s]=30 [hook.preflight]=true
    [hook.install]=true [hook.configure]=true [description]='')
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    [[ $line =~ ^([A-Za-z][A-Za-z0-9_.]*)=(.*)$ ]] ||
      ar_fail 1 "profile $name, line $n: expected key=value"
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    [[ -v known[$key] ]] || ar_fail 1 "profile $name, line $n: unknown key '$key'"
    [[ ! -v seen[$key] ]] || ar_fail 1 "profile $name, line $n: duplicate key '$key'"
    seen[$key]=1
    AR_P[$key]=$value
  done <"$file"
  for k in "${AR_PROFILE_REQUIRED[@]}"; do
    [[ -n ${AR_P[$k]:-} ]] || ar_fail 1 "profile $name: required key '$k' is missing"
  done
  ar__check_profile "$name"

  local host_root=${AR_HOST_ROOT:-}
  host_root=${host_root%/}
  if [[ -n $host_root ]] && { ! ar__matches "$host_root" '^/[A-Za-z0-9._/-]*$' ||
    ar__has_dot_dot "$host_root"; }; then
    ar_fail 2 "invalid AR_HOST_ROOT '$host_root'"
  fi
  AR_HOST_ROOT=$host_root
  AR_ROOT=$host_root${AR_P[install_root]}
  AR_STATE=$AR_ROOT/.agent-rollout
  export AR_HOST_ROOT AR_ROOT AR_STATE
}

ar__has_dot_dot() { [[ /$1/ == */../* || /$1/ == */./* ]]; }

ar__check_profile() {
  local name=$1 k
  local -r path='^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$' word='^[A-Za-z0-9._-]+$'
  if ! ar__matches "${AR_P[install_root]}" '^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$' ||
    ar__has_dot_dot "${AR_P[install_root]}"; then
    ar_fail 1 "profile $name: install_root must be an absolute path without '.' or '..'"
  fi
  [[ ${AR_P[releases_dir]} == . ]] ||
    { ar__matches "${AR_P[releases_dir]}" "$path" && ! ar__has_dot_dot "${AR_P[releases_dir]}"; } ||
    ar_fail 1 "profile $name: releases_dir must be '.' or a relative path without '.' or '..'"
  ar__matches "${AR_P[release_name]}" '^[A-Za-z0-9._-]*\{version\}[A-Za-z0-9._-]*$' ||
    ar_fail 1 "profile $name: release_name must contain {version} once, plus [A-Za-z0-9._-]"
  for k in link_name previous_link_name; do
    if ! ar__matches "${AR_P[$k]}" "$word" || [[ ${AR_P[$k]} == . || ${AR_P[$k]} == .. ]]; then
      ar_fail 1 "profile $name: $k must be a plain file name"
    fi
  done
  [[ ${AR_P[link_name]} != "${AR_P[previous_link_name]}" ]] ||
    ar_fail 1 "profile $name: link_name and previous_link_name must differ"
  [[ ${AR_P[artifact]} == tar.gz || ${AR_P[artifact]} == none ]] ||
    ar_fail 1 "profile $name: artifact must be tar.gz or none"
  for k in min_free_mb hook_timeout_s health_timeout_s; do
    # No leading zero: bash arithmetic would read it as octal.
    ar__matches "${AR_P[$k]}" '^(0|[1-9][0-9]{0,5})$' || ar_fail 1 "profile $name: $k must be a number"
  done
  ((AR_P[hook_timeout_s] > 0 && AR_P[health_timeout_s] > 0)) ||
    ar_fail 1 "profile $name: hook_timeout_s and health_timeout_s must be > 0"
}

# --- releases and links -------------------------------------------------------------

# ar_release_target VAR VERSION: VAR = release directory of VERSION relative to
# AR_ROOT, which is also what the links point to.
ar_release_target() {
  local -n __ar_rt=$1
  local __ar_name=${AR_P[release_name]/"{version}"/$2}
  if [[ ${AR_P[releases_dir]} == . ]]; then __ar_rt=$__ar_name; else __ar_rt=${AR_P[releases_dir]}/$__ar_name; fi
}

# ar_version_of_target VAR TARGET: inverse of ar_release_target; 1 if TARGET is not a
# release directory of this profile.
ar_version_of_target() {
  local -n __ar_vt=$1
  local __ar_t=$2 __ar_head=${AR_P[release_name]%%"{version}"*} __ar_tail=${AR_P[release_name]#*"{version}"}
  if [[ ${AR_P[releases_dir]} != . ]]; then
    [[ $__ar_t == "${AR_P[releases_dir]}/"* ]] || return 1
    __ar_t=${__ar_t#"${AR_P[releases_dir]}/"}
  fi
  [[ $__ar_t == "$__ar_head"*"$__ar_tail" ]] || return 1
  __ar_t=${__ar_t#"$__ar_head"}
  __ar_t=${__ar_t%"$__ar_tail"}
  ar__matches "$__ar_t" "$AR_RE_VERSION" || return 1
  __ar_vt=$__ar_t
}

# ar_link_target VAR LINK: VAR = target of $AR_ROOT/LINK relative to AR_ROOT, empty
# when the link does not exist.
ar_link_target() {
  local -n __ar_lt=$1
  local __ar_p=$AR_ROOT/$2 __ar_t
  if [[ -L $__ar_p ]]; then
    __ar_t=$(readlink -- "$__ar_p") || ar_fail 1 "cannot read link $__ar_p"
    __ar_lt=${__ar_t#"$AR_ROOT/"}
  elif [[ -e $__ar_p ]]; then
    ar_fail 1 "$__ar_p exists but is not a symlink"
  else
    __ar_lt=''
  fi
}

# ar_point_link LINK TARGET: atomically points $AR_ROOT/LINK at TARGET (relative);
# an empty TARGET removes the link. A new link under a temporary name renamed over the
# old one: there is no instant at which LINK is missing or half-written.
ar_point_link() {
  local link=$AR_ROOT/$1 tmp="$AR_ROOT/.$1.ar-new.$$"
  if [[ -z $2 ]]; then
    rm -f -- "$link"
  else
    ln -sfn -- "$2" "$tmp" && mv -fT -- "$tmp" "$link"
  fi
}

# ar_staged_sha VAR VERSION: VAR = sha256 the release of VERSION was staged from;
# returns 1 unless stage.sh completed it ("staged <sha256>" in the marker).
ar_staged_sha() {
  local -n __ar_ss=$1
  local __ar_state='' __ar_sha=''
  { read -r __ar_state __ar_sha <"$AR_STATE/staged/$2"; } 2>/dev/null || [[ -n $__ar_state ]] || return 1
  [[ $__ar_state == staged ]] || return 1
  __ar_ss=$__ar_sha
}

# ar_free_mb VAR DIR: free space (MiB) of the file system holding DIR, or its nearest
# existing ancestor (the directory may not exist yet).
ar_free_mb() {
  local -n __ar_free=$1
  local __ar_d=$2 __ar_avail=''
  while [[ ! -d $__ar_d ]]; do
    __ar_d=${__ar_d%/*}
    [[ -n $__ar_d ]] || __ar_d=/
  done
  # df -P: one line per file system, available 1K blocks in column 4.
  { read -r _ && read -r _ _ _ __ar_avail _; } < <(df -Pk -- "$__ar_d") || return 1
  [[ $__ar_avail =~ ^[0-9]+$ ]] || return 1
  __ar_free=$((__ar_avail / 1024))
}

# --- mutex --------------------------------------------------------------------------

# The lock is the directory $AR_STATE/lock holding an "owner" file (pid, start ticks,
# step, rollout). It is prepared under a private name and renamed into place: rename
# refuses a non-empty target, so taking it is atomic and a lock is never seen without
# its owner. A lock whose owner process is gone (or whose pid now belongs to another
# process) is stale and taken over.
ar_lock() {
  local lock=$AR_STATE/lock mine="$AR_STATE/.lock.$$" ticks owner='' waited=0
  local wait_s=${AR_LOCK_WAIT_S:-300}
  mkdir -p -- "$AR_STATE" || ar_fail 1 "cannot create $AR_STATE"
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

ar__unlock() {
  [[ -n $AR_LOCKED ]] || return 0
  local lock=$AR_STATE/lock pid=''
  AR_LOCKED=''
  { read -r pid _ <"$lock/owner"; } 2>/dev/null || return 0
  [[ $pid == "$$" ]] || return 0
  mv -T -- "$lock" "$AR_STATE/.lock.free.$$" && rm -rf -- "$AR_STATE/.lock.free.$$"
}

# --- hooks --------------------------------------------------------------------------

# ar_run_hook NAME RELEASE VERSION [TIMEOUT_S]: runs hook.NAME as bash -c, in AR_ROOT,
# under timeout, with AR_RELEASE/AR_VERSION set; stdout to $AR_TMP/hook.out and stderr
# to $AR_TMP/hook.err (files, not pipes: a daemon the hook leaves behind cannot keep
# our output open). Returns the hook's exit status; AR_HOOK_ERROR describes a failure.
ar_run_hook() {
  local name=$1 hook=${AR_P[hook.$1]} t=${4:-${AR_P[hook_timeout_s]}} rc=0 last=''
  local dir=/
  [[ ! -d $AR_ROOT ]] || dir=$AR_ROOT
  # The step itself works with absolute paths only: changing its directory here saves
  # a subshell per hook.
  if [[ $PWD != "$dir" ]] && ! cd -- "$dir"; then
    AR_HOOK_ERROR="hook.$name: cannot enter $dir"
    return 1
  fi
  AR_RELEASE=$2 AR_VERSION=$3 timeout -k 5 "$t" bash -c "$hook" \
    </dev/null >"$AR_TMP/hook.out" 2>"$AR_TMP/hook.err" {AR_SLEEP_FD}>&- || rc=$?
  AR_HOOK_ERROR=''
  if ((rc != 0)); then
    local -a lines=()
    mapfile -t lines <"$AR_TMP/hook.err" || :
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

# Copies a captured hook stream to stderr, prefixed with the hook name.
ar__replay() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    printf '[%s] hook.%s: %s\n' "$AR_STEP" "$1" "$line" >&2
  done <"$2"
}

# ar_hook NAME RELEASE VERSION [TIMEOUT_S]: runs the hook; its output goes to stderr.
ar_hook() {
  local rc=0
  ar_run_hook "$@" || rc=$?
  ar__replay "$1" "$AR_TMP/hook.out"
  ar__replay "$1" "$AR_TMP/hook.err"
  return "$rc"
}

# ar_hook_line VAR NAME RELEASE VERSION: runs the hook; VAR = last non-empty line of
# its stdout (hooks print one line; tools often print noise before their summary).
ar_hook_line() {
  local -n __ar_hl=$1
  local __ar_rc=0 __ar_line
  local -a __ar_lines=()
  shift
  ar_run_hook "$@" || __ar_rc=$?
  ar__replay "$1" "$AR_TMP/hook.err"
  __ar_hl=''
  mapfile -t __ar_lines <"$AR_TMP/hook.out" || :
  for __ar_line in "${__ar_lines[@]}"; do
    __ar_line=${__ar_line%$'\r'}
    [[ -z ${__ar_line//[[:space:]]/} ]] || __ar_hl=${__ar_line:0:1000}
  done
  return "$__ar_rc"
}

# --- suspend window -----------------------------------------------------------------

# The marker outlives a run killed while the agent is suspended (SSM timeout kills
# without traps); the next switch or rollback resumes the agent first.
ar_suspend() {
  ar_now_ms AR_SUSPEND_START_MS
  printf '%s %s\n' "$AR_STEP" "${PARAM[rolloutId]}" >"$AR_STATE/suspended"
  AR_SUSPENDED=1
  ar_hook suspend "$AR_LIVE_REL" "$AR_LIVE_VER"
}

# ar_resume: resume hook for the release that runs now; sets AR_RESUME_END_MS.
ar_resume() {
  ar_hook resume "$AR_LIVE_REL" "$AR_LIVE_VER" || return
  ar_now_ms AR_RESUME_END_MS
  AR_SUSPENDED=''
  rm -f -- "$AR_STATE/suspended"
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

# ar_wait_healthy RELEASE VERSION: calls the health hook every 10 ms until it passes
# (0, AR_HEALTH_OK_MS set) or health_timeout_s has gone by (1, AR_HEALTH_ERROR set).
ar_wait_healthy() {
  local now deadline left t per_call=$((AR_P[hook_timeout_s] * 1000))
  ar_now_ms now
  deadline=$((now + AR_P[health_timeout_s] * 1000))
  while :; do
    left=$((deadline - now))
    ((left >= 200)) || left=200
    ((left <= per_call)) || left=$per_call
    printf -v t '%d.%03d' $((left / 1000)) $((left % 1000))
    if ar_run_hook health "$1" "$2" "$t"; then
      ar_now_ms AR_HEALTH_OK_MS
      return 0
    fi
    ar_now_ms now
    if ((now >= deadline)); then
      AR_HEALTH_ERROR="health check of $2 still failing after ${AR_P[health_timeout_s]}s (${AR_HOOK_ERROR})"
      return 1
    fi
    ar_sleep 0.01
    ar_now_ms now
  done
}

# ar_cutover FROM_T FROM_V TO_T TO_V PREV_AFTER PREV_BEFORE CONFIGURE
# Moves the agent from release FROM_T to TO_T (targets relative to AR_ROOT): stop the
# listener (jobs keep running), point the links (previous link to PREV_AFTER, or
# removed when empty), configure when CONFIGURE=yes, start, wait for health. If any of
# that fails it goes back: stop, links as they were (previous to PREV_BEFORE), start
# the old listener, wait for health. Must run suspended. Never exits: it sets
# AR_CUTOVER = ok | reverted | failed, AR_CUTOVER_REASON, AR_GAP_START_MS,
# AR_HEALTH_OK_MS (the moment the serving listener passed), AR_HEALTH_WAIT_MS (the new
# release's health wait) and AR_CONFIGURE_REPORT.
# Before it touches anything it writes the cutover record (ar__cutover_record), and it
# removes the record once the agent serves again from either release; only a run
# killed in between (or a cutover that could not restore anything) leaves it.
# shellcheck disable=SC2034 # its outputs are globals read by the step scripts
ar_cutover() {
  local from_t=$1 from_v=$2 to_t=$3 to_v=$4 prev_after=$5 prev_before=$6 configure=$7
  local from_rel=${1:+$AR_ROOT/$1} to_rel=$AR_ROOT/$3 health_start
  AR_CUTOVER_REASON='' AR_CONFIGURE_REPORT='' AR_HEALTH_WAIT_MS=''
  if ! ar__cutover_record "$@" 2>"$AR_TMP/record.err"; then
    # Nothing has moved; without the record a kill from here on could not be repaired.
    AR_CUTOVER_REASON="cannot write the cutover record $AR_STATE/cutover: $(<"$AR_TMP/record.err")"
    ar_now_ms AR_GAP_START_MS
    ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" no
    return 0
  fi
  ar_now_ms AR_GAP_START_MS
  if ! ar_hook stopListener "$from_rel" "$from_v"; then
    # The old listener may still run: nothing has moved, make sure it serves.
    AR_CUTOVER_REASON=$AR_HOOK_ERROR
    ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" no
    return 0
  fi
  if ! ar_point_link "${AR_P[link_name]}" "$to_t"; then
    AR_CUTOVER_REASON="cannot point ${AR_P[link_name]} at $to_t"
    ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" no
    return 0
  fi
  AR_LIVE_REL=$to_rel AR_LIVE_VER=$to_v
  if [[ $configure == yes ]] && ! ar_hook_line AR_CONFIGURE_REPORT configure "$to_rel" "$to_v"; then
    AR_CUTOVER_REASON=$AR_HOOK_ERROR
  elif ! ar_hook startListener "$to_rel" "$to_v"; then
    AR_CUTOVER_REASON=$AR_HOOK_ERROR
  else
    ar_now_ms health_start
    # Bookkeeping while the new listener boots, not before: it stays out of the gap.
    ar_point_link "${AR_P[previous_link_name]}" "$prev_after" ||
      ar_log "cannot update ${AR_P[previous_link_name]} (continuing)"
    if ar_wait_healthy "$to_rel" "$to_v"; then
      AR_HEALTH_WAIT_MS=$((AR_HEALTH_OK_MS - health_start))
      AR_CUTOVER=ok
      ar__cutover_done
      return 0
    fi
    ar_now_ms AR_HEALTH_WAIT_MS
    AR_HEALTH_WAIT_MS=$((AR_HEALTH_WAIT_MS - health_start))
    AR_CUTOVER_REASON=$AR_HEALTH_ERROR
  fi
  ar__cutover_back "$from_t" "$from_v" "$to_rel" "$to_v" "$prev_before" yes
}

# shellcheck disable=SC2034 # see ar_cutover
ar__cutover_back() {
  local from_t=$1 from_v=$2 to_rel=$3 to_v=$4 prev_before=$5 stop_new=$6
  local from_rel=${1:+$AR_ROOT/$1}
  ar_log "going back to ${from_v:-the previous state}: $AR_CUTOVER_REASON"
  AR_CUTOVER=failed
  if [[ $stop_new == yes ]] && ! ar_hook stopListener "$to_rel" "$to_v"; then
    AR_CUTOVER_REASON+="; then stopping $to_v failed too ($AR_HOOK_ERROR)"
    return 0
  fi
  if ! ar_point_link "${AR_P[link_name]}" "$from_t"; then
    AR_CUTOVER_REASON+="; then restoring ${AR_P[link_name]} failed"
    return 0
  fi
  AR_LIVE_REL=$from_rel AR_LIVE_VER=$from_v
  ar_point_link "${AR_P[previous_link_name]}" "$prev_before" ||
    ar_log "cannot restore ${AR_P[previous_link_name]} (continuing)"
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

# --- interrupted cutovers -----------------------------------------------------------

# ar__cutover_record FROM_T FROM_V TO_T TO_V PREV_AFTER PREV_BEFORE CONFIGURE: writes
# $AR_STATE/cutover, one key=value per line (a builtin printf, no fork inside the
# suspend window). "end=1" comes last: a record without it was cut short by a kill
# before the cutover changed anything.
ar__cutover_record() {
  printf 'step=%s\nrolloutId=%s\nfromTarget=%s\nfromVersion=%s\ntoTarget=%s\ntoVersion=%s\nprevAfter=%s\nprevBefore=%s\nconfigure=%s\nend=1\n' \
    "$AR_STEP" "${PARAM[rolloutId]:--}" "$@" >"$AR_STATE/cutover"
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
# its cutover record, before the step does anything else. The run may have died at any
# point between "stop the old listener" and "the new one is healthy": with the link
# still on the old release it restarts that release's listener (idempotent) and waits
# for health; with the link on the new release it completes the cutover (configure
# when the record says so, start, health, previous link), and if the new release does
# not come up it goes back to the old one exactly as ar_cutover would have. Leaves the
# agent suspended (if it was): the caller resumes it afterwards. Fails the step when the
# agent cannot be brought to serve from either release (the record then stays).
# Sets AR_RECOVERED = '' (nothing to recover) | forward | back, AR_RECOVERED_STEP,
# AR_RECOVERED_ROLLOUT, AR_RECOVERED_FROM_T, AR_RECOVERED_FROM_V, AR_RECOVERED_TO_T,
# AR_RECOVERED_TO_V and AR_RECOVERED_REASON (why it went back).
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
    if [[ ${rec[configure]:-} == yes ]] &&
      ! ar_hook_line AR_CONFIGURE_REPORT configure "$to_rel" "$AR_RECOVERED_TO_V"; then
      AR_CUTOVER_REASON=$AR_HOOK_ERROR
    elif ! ar_hook startListener "$to_rel" "$AR_RECOVERED_TO_V"; then
      AR_CUTOVER_REASON=$AR_HOOK_ERROR
    elif ! ar_wait_healthy "$to_rel" "$AR_RECOVERED_TO_V"; then
      AR_CUTOVER_REASON=$AR_HEALTH_ERROR
    else
      ar_point_link "${AR_P[previous_link_name]}" "${rec[prevAfter]}" ||
        ar_log "cannot update ${AR_P[previous_link_name]} (continuing)"
      AR_RECOVERED=forward
    fi
    if [[ -z $AR_RECOVERED ]]; then
      AR_RECOVERED_REASON="completing the interrupted $what failed: $AR_CUTOVER_REASON"
      AR_CUTOVER_REASON=$AR_RECOVERED_REASON
      ar__cutover_back "${rec[fromTarget]}" "$AR_RECOVERED_FROM_V" "$to_rel" "$AR_RECOVERED_TO_V" \
        "${rec[prevBefore]}" yes
      [[ $AR_CUTOVER == reverted ]] ||
        ar_fail 1 "cannot recover the interrupted $what: $AR_CUTOVER_REASON"
      AR_RECOVERED=back
    fi
  elif [[ $cur_t == "${rec[fromTarget]}" ]]; then
    # The link was not flipped, or was flipped back: the old release must serve.
    AR_LIVE_REL=$from_rel AR_LIVE_VER=$AR_RECOVERED_FROM_V
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
