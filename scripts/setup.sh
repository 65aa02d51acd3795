#!/usr/bin/env bash
# Makes a fresh clone ready for `npm start` and `npm test` (run by their pre-scripts).
#
# Inputs:  $1 = what for: "start" (Node dependencies) or "test" (also shellcheck and
#          cfn-lint).
# Effect:  runs `npm ci` when node_modules is missing or older than package-lock.json;
#          for "test", installs shellcheck and chromium (the HTML report test renders
#          in headless Chromium) from Debian's packages when they are missing and this
#          user may (root with apt-get), and cfn-lint with pip when it is
#          missing and pip can reach a package index; else says how to get them and
#          fails (the template test must not pass without cfn-lint).
# Output:  one line per action taken on stderr; nothing when all is in place.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

purpose=${1:-start}

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing Node dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

if [[ $purpose == test ]]; then
  missing=()
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  [[ -n ${CHROMIUM:-} ]] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing ${missing[*]} (apt-get)" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "setup: npm test needs ${missing[*]}; install (Debian/Ubuntu: apt-get install ${missing[*]}; for Chromium elsewhere, set CHROMIUM to its path)" >&2
      exit 1
    fi
  fi
fi

if [[ $purpose == test ]] && ! command -v cfn-lint >/dev/null 2>&1; then
  pip=$(command -v pip3 || command -v pip || true)
  if [[ -n $pip ]] && "$pip" install --quiet --user cfn-lint >&2 && command -v cfn-lint >/dev/null 2>&1; then
    echo "setup: installed cfn-lint (pip)" >&2
  else
    echo "setup: cfn-lint is required by npm test and could not be installed; install it (pip install cfn-lint) and put it on PATH" >&2
    exit 1
  fi
fi
