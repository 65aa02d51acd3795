#!/usr/bin/env bash
# stage.sh: installs the target release beside the running one. Touches nothing the
# running agent uses.
#
# Fetches the artifact (https:// with curl, or a local file:/// path), verifies its
# sha256, extracts it into a temporary directory next to the release directory and
# renames it into place (a release directory is never seen half-extracted; with the
# profile's artifact_subdir, only that directory of the archive), runs
# hook.install inside it, then records it as staged. Before hook.install, backs up
# the profile's config_paths into $AR_STATE/backups/<rolloutId>/ (lib/config.sh; the
# first backup of a rollout wins). A release already
# staged from the same sha256 is ALREADY_STAGED; one it did not stage is refused, unless
# the link or previous link points at it (a vendor's first install): adopted as it is
# (ALREADY_STAGED with a reason). A profile with switch_mode=overlap
# gets the socket holder (socket-holder.py, carried beside this script) installed in
# $AR_STATE/socket-holder/, where the agent's start command finds it before its first
# switch.
# Inputs: SSM_profile, SSM_targetVersion, SSM_artifactUrl, SSM_artifactSha256,
#   SSM_rolloutId; AR_PROFILE_DIR, AR_HOST_ROOT, AR_ARTIFACT_DIRS (":"-separated
#   directories a file:/// artifact may come from; unset: none).
# Output: result-sha256 line, then one JSON line, status STAGED | ALREADY_STAGED (exit
#   0) or FAILED (exit 1; 2 for bad parameters, a missing local artifact included),
#   with release, sha256, durationMs, reason (adopted).
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

# Filled by lib/ functions through namerefs.
started=0 target='' staged_sha='' current_t='' previous_t='' free_mb=0

ar_init stage
ar_now_ms started
ar_param profile
ar_param targetVersion
ar_param artifactUrl
ar_param artifactSha256
ar_param rolloutId
ar_load_profile "${PARAM[profile]}"
version=${PARAM[targetVersion]} url=${PARAM[artifactUrl]} sha=${PARAM[artifactSha256]}
rid=${PARAM[rolloutId]}
export AR_TO_VERSION=$version

# A file:// artifact is read as root: it must lie inside a directory of
# AR_ARTIFACT_DIRS (":"-separated; the document sets it from the stack's artifactDirs)
# by its path and by its real path (symlinks resolved), and be a regular file, never
# a device, a FIFO or anything under /proc. Nothing of another file is ever printed.
local_artifact=''
if [[ ${AR_P[artifact]} == tar.gz && $url == file://* ]]; then
  # The URL's path and AR_ARTIFACT_DIRS are percent-encoded (a space, a '+'): decoded here.
  ar_decode_path path "${url#file://}"
  real='' inside=''
  IFS=: read -r -a allowed_dirs <<<"${AR_ARTIFACT_DIRS:-}"
  for encoded_dir in "${allowed_dirs[@]}"; do
    [[ -n $encoded_dir ]] || continue
    ar_decode_path dir "$encoded_dir"
    [[ $path == "$dir"/* ]] || continue
    [[ -e $path ]] || ar_fail 2 "artifact not found: $path"
    real=$(realpath -e -- "$path") && dir_real=$(realpath -e -- "$dir") &&
      [[ $real == "$dir_real"/* ]] && inside=1 && break
  done
  [[ -n $inside ]] ||
    ar_fail 2 "artifact $path is not inside an allowed artifact directory (${AR_ARTIFACT_DIRS:-none}; the stack's artifactDirs)"
  [[ -f $real && -r $real ]] || ar_fail 2 "artifact $path is not a readable regular file"
  local_artifact=$real
fi

ar_lock

ar_release_target target "$version"
release=$AR_ROOT/$target
parent=${release%/*}
marker=$AR_STATE/staged/$version

# backup_config: the profile's config_paths as they are before this rollout's install
# (lib/config.sh; the first backup of a rollout wins), in a state directory of ours.
backup_config() {
  [[ -n ${AR_P[config_paths]} ]] || return 0
  ar_state_dir "$AR_STATE/backups" 2>"$AR_TMP/state.err" ||
    ar_fail 1 "refusing the state directory: $(<"$AR_TMP/state.err")"
  ar_backup_config "$rid" || ar_fail 1 "$AR_CONFIG_ERROR"
}

# install_holder: puts socket-holder.py in $AR_STATE/socket-holder/ (the running
# holder keeps its code; the next one started runs the new file).
install_holder() {
  local dir=$AR_STATE/socket-holder
  [[ ${AR_P[switch_mode]} == overlap ]] || return 0
  cmp -s -- "$here/socket-holder.py" "$dir/socket-holder.py" && return 0
  { ar_state_dir "$dir" && chmod 700 -- "$dir" && cp -- "$here/socket-holder.py" "$dir/.socket-holder.py.$$" &&
    mv -f -- "$dir/.socket-holder.py.$$" "$dir/socket-holder.py"; } ||
    ar_fail 1 "cannot install the socket holder in $dir"
}

finish() {
  local now
  backup_config
  install_holder
  ar_now_ms now
  ar_out_str release "$release"
  if [[ ${AR_P[artifact]} == none ]]; then ar_out_str sha256; else ar_out_str sha256 "$sha"; fi
  ar_out_num durationMs $((now - started))
  ar_emit "$1"
  exit 0
}

# take_artifact_subdir: the release is the archive's artifact_subdir ({version}
# replaced): a real directory inside the extracted tree (no symlink on the way out of
# it), moved to $work/release; the rest of the archive is dropped.
take_artifact_subdir() {
  local sub=${AR_P[artifact_subdir]//"{version}"/$version} top real
  top=$(realpath -e -- "$work/release") || ar_fail 1 "cannot resolve $work/release"
  real=$(realpath -e -- "$top/$sub" 2>/dev/null) || real=''
  if [[ -z $real || $real != "$top/$sub" || ! -d $real ]]; then
    ar_fail 1 "the artifact $url has no directory $sub (artifact_subdir of profile ${PARAM[profile]})"
  fi
  { mv -T -- "$real" "$work/subdir" && mv -T -- "$work/release" "$work/rest" &&
    mv -T -- "$work/subdir" "$work/release"; } || ar_fail 1 "cannot take $sub out of the artifact"
}

# Removes a directory by first renaming it out of the way, so that it disappears at
# once instead of file by file.
remove_dir() {
  local gone
  gone="${1%/*}/.ar-gone.${1##*/}.$$"
  mv -T -- "$1" "$gone" && rm -rf -- "$gone"
}

if ar_staged_sha staged_sha "$version" && [[ -d $release ]]; then
  [[ $staged_sha == "$sha" ]] ||
    ar_fail 1 "release $release is already staged from another artifact (sha256 $staged_sha)"
  # Claimed again: the cleanup of a switch that abandoned this release now keeps it.
  ar_state_write "$marker" "staged $staged_sha"$'\n' || ar_fail 1 "cannot write $marker"
  finish ALREADY_STAGED
fi

if [[ -e $release || -L $release ]]; then
  ar_link_target current_t "${AR_P[link_name]}"
  ar_link_target previous_t "${AR_P[previous_link_name]}"
  state=''
  { read -r state _ <"$marker"; } 2>/dev/null || :
  if [[ -d $release && ! -L $release && ($target == "$current_t" || $target == "$previous_t") ]]; then
    # A release the agent runs or ran just before (a vendor's first install): it is
    # the version its directory names, so it is adopted as it is, never extracted over.
    ar_state_write "$marker" "staged $sha adopted"$'\n' ||
      ar_fail 1 "cannot record $release as staged"
    ar_out_str reason "adopted $release, installed outside agent-rollout, as it is"
    finish ALREADY_STAGED
  fi
  if [[ $state != pending ]]; then
    ar_fail 1 "$release exists and was not staged by agent-rollout; remove it or pick another version"
  fi
  ar_log "removing $release left by an interrupted stage"
  remove_dir "$release" || ar_fail 1 "cannot remove the incomplete $release"
fi

# We hold the host lock: temporary directories found here belong to dead runs.
if [[ -d $parent ]]; then
  for leftover in "$parent"/.ar-stage.*; do
    [[ ! -e $leftover ]] || rm -rf -- "$leftover"
  done
fi

ar_free_mb free_mb "$parent" || ar_fail 1 "cannot read free space under $parent"
if ((free_mb < AR_P[min_free_mb])); then
  ar_fail 1 "only ${free_mb} MB free under $parent, profile ${PARAM[profile]} needs ${AR_P[min_free_mb]} MB"
fi

mkdir -p -- "$parent" || ar_fail 1 "cannot create $parent"
ar_state_dir "$AR_STATE/staged" || ar_fail 1 "cannot use $AR_STATE/staged"
work=$(mktemp -d "$parent/.ar-stage.${target##*/}.XXXXXX") || ar_fail 1 "cannot create a temporary directory in $parent"
ar_remove_on_exit "$work"
mkdir -- "$work/release"

if [[ ${AR_P[artifact]} == tar.gz ]]; then
  artifact=$work/artifact.tar.gz
  if [[ -n $local_artifact ]]; then
    cp -- "$local_artifact" "$artifact" || ar_fail 1 "cannot copy $local_artifact"
  else
    ar_log "downloading $url"
    curl -fsSL --proto =https --proto-redir =https --retry 3 --connect-timeout 15 \
      --max-time 900 -o "$artifact" -- "$url" || ar_fail 1 "download of $url failed"
  fi
  # Hash the copy we extract, not the source: the source could change in between.
  # Both sums may be printed: the file passed the checks above, so it is the artifact.
  read -r got _ < <(sha256sum -- "$artifact") || ar_fail 1 "cannot hash $artifact"
  [[ $got == "$sha" ]] || ar_fail 1 "sha256 mismatch for $url: expected $sha, got $got"
  tar -xzf "$artifact" -C "$work/release" --no-same-owner ||
    ar_fail 1 "cannot extract $url"
  [[ -z ${AR_P[artifact_subdir]} ]] || take_artifact_subdir
  export AR_ARTIFACT=$artifact
fi

# "pending" until hook.install has passed: an interrupted stage is recognisable as
# ours and redone; switch only takes releases marked "staged".
backup_config
ar_state_write "$marker" "pending $sha"$'\n' || ar_fail 1 "cannot write $marker"
mv -T -- "$work/release" "$release" || ar_fail 1 "cannot move the release into $release"
if ! ar_hook install "$release" "$version"; then
  error=$AR_HOOK_ERROR
  remove_dir "$release" && rm -f -- "$marker"
  ar_fail 1 "install of $version failed: $error"
fi
ar_state_write "$marker" "staged $sha"$'\n' || ar_fail 1 "cannot write $marker"
rm -rf -- "$work"
finish STAGED
