#!/usr/bin/env bash
# lib/profile.sh: loads and checks the agent profile. Sourced, never run.
#
# A profile is data: $AR_PROFILE_DIR/<name>.profile, key=value lines split at the
# first '=', nothing evaluated. Unknown or duplicate keys, missing required keys and
# values outside their syntax are refused; defaults are applied.
# Needs: common.sh, result.sh.
# Inputs (environment): AR_PROFILE_DIR (directory holding <profile>.profile),
#   AR_HOST_ROOT (optional prefix of install_root).
# Sets: AR_P (key -> value), AR_HOST_ROOT, AR_ROOT (the install root on this host),
#   AR_STATE (agent-rollout's state directory under it); all three exported.
# shellcheck shell=bash

declare -gA AR_P=()
AR_ROOT='' AR_STATE=''

readonly -a AR_PROFILE_REQUIRED=(install_root hook.version hook.suspend hook.resume
  hook.stopListener hook.startListener hook.health hook.listJobs)
readonly -a AR_PROFILE_OPTIONAL=(description releases_dir release_name link_name
  previous_link_name artifact min_free_mb hook_timeout_s health_timeout_s
  hook.preflight hook.install hook.configure switch_mode hook.endpoint artifact_subdir
  config_paths hook.available available_timeout_s)

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
    [hook.install]=true [hook.configure]=true [description]='' [switch_mode]=stop-start
    [hook.endpoint]='' [artifact_subdir]='' [config_paths]='' [hook.available]=''
    [available_timeout_s]=30)
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
  # A local fleet's host root may lie in a work dir whose path holds a space or a '+'.
  if [[ -n $host_root ]] && { ! ar__matches "$host_root" '^/[A-Za-z0-9._/ +-]*$' ||
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
  # A directory inside the archive ({version} replaced by stage): no way out of it.
  if [[ -n ${AR_P[artifact_subdir]} ]] && { [[ ${AR_P[artifact]} != tar.gz ]] ||
    ! ar__matches "${AR_P[artifact_subdir]}" '^[A-Za-z0-9._{}-]+(/[A-Za-z0-9._{}-]+)*$' ||
    ar__has_dot_dot "${AR_P[artifact_subdir]}"; }; then
    ar_fail 1 "profile $name: artifact_subdir must be a relative path without '.' or '..' (artifact=tar.gz)"
  fi
  # Configuration outside the releases, backed up by stage and restored on the way
  # back (config.sh): never agent-rollout's own state, a link or the releases.
  local -a config=()
  read -ra config <<<"${AR_P[config_paths]}"
  for k in "${config[@]}"; do
    if ! ar__matches "$k" "$path" || ar__has_dot_dot "$k" ||
      [[ $k == .agent-rollout || $k == .agent-rollout/* || $k == "${AR_P[link_name]}" ||
        $k == "${AR_P[previous_link_name]}" || $k == "${AR_P[releases_dir]}" ||
        $k == "${AR_P[releases_dir]}"/* || ${AR_P[releases_dir]} == "$k"/* ]]; then
      ar_fail 1 "profile $name: config_paths: '$k' must be a relative path without '.' or '..', outside the releases, the links and .agent-rollout"
    fi
  done
  for k in min_free_mb hook_timeout_s health_timeout_s available_timeout_s; do
    # No leading zero: bash arithmetic would read it as octal.
    ar__matches "${AR_P[$k]}" '^(0|[1-9][0-9]{0,5})$' || ar_fail 1 "profile $name: $k must be a number"
  done
  ((AR_P[hook_timeout_s] > 0 && AR_P[health_timeout_s] > 0 && AR_P[available_timeout_s] > 0)) ||
    ar_fail 1 "profile $name: hook_timeout_s, health_timeout_s and available_timeout_s must be > 0"
  [[ ${AR_P[switch_mode]} == stop-start || ${AR_P[switch_mode]} == overlap ]] ||
    ar_fail 1 "profile $name: switch_mode must be stop-start or overlap"
  [[ ${AR_P[switch_mode]} == stop-start || -n ${AR_P[hook.endpoint]} ]] ||
    ar_fail 1 "profile $name: switch_mode=overlap needs hook.endpoint"
  # A jobless daemon declares these none: no suspend window, an empty snapshot.
  for k in hook.version hook.stopListener hook.startListener hook.health; do
    [[ ${AR_P[$k]} != none ]] || ar_fail 1 "profile $name: $k cannot be none"
  done
  [[ ${AR_P[hook.suspend]} == none && ${AR_P[hook.resume]} == none ||
    ${AR_P[hook.suspend]} != none && ${AR_P[hook.resume]} != none ]] ||
    ar_fail 1 "profile $name: hook.suspend and hook.resume are none together or not at all"
}
