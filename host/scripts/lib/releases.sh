#!/usr/bin/env bash
# lib/releases.sh: where releases and links live under the install root. Sourced,
# never run.
#
# Release directory <-> version (the profile's releases_dir and release_name), reading
# and atomically pointing the links (link_name, previous_link_name), the staged marker
# stage.sh leaves, free space.
# Needs: common.sh, result.sh, profile.sh (AR_P, AR_ROOT, AR_STATE, loaded).
# shellcheck shell=bash

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
# returns 1 unless stage.sh completed it ("staged <sha256>" in the marker, "staged
# none" accepted from an artifact=none profile).
ar_staged_sha() {
  local -n __ar_ss=$1
  local __ar_state='' __ar_sha=''
  # "staged <sha256>" or "staged <sha256> adopted"
  { read -r __ar_state __ar_sha _ <"$AR_STATE/staged/$2"; } 2>/dev/null || [[ -n $__ar_state ]] || return 1
  [[ $__ar_state == staged ]] || return 1
  ar__matches "$__ar_sha" "$AR_RE_SHA256" ||
    [[ $__ar_sha == none && ${AR_P[artifact]} == none ]] || return 1
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
