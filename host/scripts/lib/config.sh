#!/usr/bin/env bash
# lib/config.sh: backs up and restores the profile's config_paths. Sourced, never run.
#
# config_paths are files or directories outside the releases (relative to AR_ROOT)
# that install and configure hooks change. Stage copies them, before hook.install, to
# $AR_STATE/backups/<id>/<path> and then writes the manifest $AR_STATE/backups/<id>.paths
# ("present <path>" or "absent <path>" per path; it marks the backup complete). Every
# way back to the old release puts them back as they were: a path absent then is
# removed. A path whose directories lead out of AR_ROOT through a symlink, or that is
# a release directory, is refused.
# Needs: result.sh, profile.sh (AR_P, AR_ROOT, AR_STATE, loaded), releases.sh.
# Sets: AR_CONFIG_ERROR (why the last backup or restore failed).
# shellcheck shell=bash

AR_CONFIG_ERROR=''

# ar__config_path_ok PATH: PATH (checked by profile.sh) is no release directory and
# its parent directory is where it reads, no symlink on the way.
ar__config_path_ok() {
  local p=$1 parent=. root real __ar_v=''
  [[ $p != */* ]] || parent=${p%/*}
  if [[ ${AR_P[releases_dir]} == . ]] && ar_version_of_target __ar_v "${p%%/*}"; then
    AR_CONFIG_ERROR="config_paths: '$p' is a release directory"
    return 1
  fi
  root=$(realpath -m -- "$AR_ROOT") && real=$(realpath -m -- "$AR_ROOT/$parent") || real=''
  [[ $parent == . && $real == "$root" || $real == "$root/$parent" ]] && return 0
  AR_CONFIG_ERROR="config_paths: '$p' leads out of $AR_ROOT through a symlink ($real)"
  return 1
}

# ar_backup_config ID [fresh]: copies the config_paths into $AR_STATE/backups/ID. A
# complete backup of ID is kept (the first backup of a rollout wins) unless "fresh" is
# given. Returns 1 with AR_CONFIG_ERROR when a path cannot be copied.
ar_backup_config() {
  local id=$1 dir=$AR_STATE/backups p
  local -a paths=() lines=()
  read -ra paths <<<"${AR_P[config_paths]}"
  ((${#paths[@]} > 0)) || return 0
  [[ ${2:-} == fresh || ! -f $dir/$id.paths ]] || return 0
  rm -rf -- "${dir:?}/$id" "$dir/$id.paths" "$dir/.$id.tmp"
  mkdir -p -- "$dir/.$id.tmp" || { AR_CONFIG_ERROR="cannot create $dir/.$id.tmp"; return 1; }
  for p in "${paths[@]}"; do
    ar__config_path_ok "$p" || return 1
    if [[ -e $AR_ROOT/$p || -L $AR_ROOT/$p ]]; then
      if ! { { [[ $p != */* ]] || mkdir -p -- "$dir/.$id.tmp/${p%/*}"; } &&
        cp -a -- "$AR_ROOT/$p" "$dir/.$id.tmp/$p"; }; then
        AR_CONFIG_ERROR="cannot back up $AR_ROOT/$p into $dir/$id"
        return 1
      fi
      lines+=("present $p")
    else
      lines+=("absent $p")
    fi
  done
  if ! { mv -T -- "$dir/.$id.tmp" "$dir/$id" && printf '%s\n' "${lines[@]}" >"$dir/.$id.paths" &&
    mv -f -- "$dir/.$id.paths" "$dir/$id.paths"; }; then
    AR_CONFIG_ERROR="cannot complete the backup $dir/$id"
    return 1
  fi
}

# ar_restore_config ID: puts the config_paths back as backup ID holds them (each path
# replaced by renames, a directory as a whole). Nothing to do without such a backup.
# Returns 1 with AR_CONFIG_ERROR when a path could not be restored (the others are).
ar_restore_config() {
  local id=$1 dir=$AR_STATE/backups state p dst parent tmp gone rc=0
  [[ -n $id && -f $dir/$id.paths ]] || return 0
  AR_CONFIG_ERROR=''
  while read -r state p; do
    [[ -n $p ]] || continue
    # The manifest is our own file, but it names paths to replace: checked again.
    if [[ " ${AR_P[config_paths]} " != *" $p "* ]] || ! ar__config_path_ok "$p"; then
      AR_CONFIG_ERROR+="${AR_CONFIG_ERROR:+; }not restoring '$p' (not in config_paths, or unsafe)"
      rc=1
      continue
    fi
    dst=$AR_ROOT/$p parent=$AR_ROOT
    [[ $p != */* ]] || parent=$AR_ROOT/${p%/*}
    tmp=$parent/.${p##*/}.ar-restore.$$ gone=$parent/.${p##*/}.ar-gone.$$
    if [[ $state == present ]]; then
      rm -rf -- "$tmp" "$gone"
      if mkdir -p -- "$parent" && cp -a -- "$dir/$id/$p" "$tmp" &&
        { [[ ! -e $dst && ! -L $dst ]] || mv -T -- "$dst" "$gone"; } && mv -T -- "$tmp" "$dst"; then
        rm -rf -- "$gone"
        continue
      fi
      rm -rf -- "$tmp"
    elif rm -rf -- "$dst"; then
      continue
    fi
    AR_CONFIG_ERROR+="${AR_CONFIG_ERROR:+; }cannot restore $dst from $dir/$id"
    rc=1
  done <"$dir/$id.paths"
  ((rc == 0)) && ar_log "configuration restored from $dir/$id"
  return "$rc"
}

# ar_config_backup_of VAR FROM_V TO_V: VAR = the rollout whose completed switch went
# from FROM_V to TO_V most recently and whose stage left a backup; empty if none.
ar_config_backup_of() {
  local -n __ar_cb=$1
  local __ar_f __ar_key __ar_value __ar_best='' __ar_id
  local -A __ar_sw=()
  __ar_cb=''
  for __ar_f in "$AR_STATE"/snapshots/*.switch; do
    [[ -f $__ar_f ]] || continue
    __ar_id=${__ar_f##*/} __ar_id=${__ar_id%.switch}
    [[ -f $AR_STATE/backups/$__ar_id.paths ]] || continue
    __ar_sw=()
    while IFS='=' read -r __ar_key __ar_value; do __ar_sw[$__ar_key]=$__ar_value; done <"$__ar_f"
    [[ ${__ar_sw[fromVersion]:-} == "$2" && ${__ar_sw[toVersion]:-} == "$3" ]] || continue
    [[ -n $__ar_best && ! $__ar_f -nt $__ar_best ]] || __ar_best=$__ar_f __ar_cb=$__ar_id
  done
}
