#!/usr/bin/env bash
# lib/result.sh: what a step prints. Exactly one machine-readable JSON line on stdout,
# last (ar_out_*, then ar_emit STATUS, or ar_fail CODE MESSAGE), right after the line
# `result-sha256 <hex>` (the sha256 of the JSON line, without its newline); log lines
# on stderr (ar_log). Sourced, never run.
# Needs: nothing.
# Sets: AR_STEP (the step's name, set by ar_init; "unknown" before), AR_EMITTED (the
#   result line is out).
# shellcheck shell=bash

declare -gA AR_OUT=()
declare -ga AR_OUT_KEYS=()
AR_STEP=unknown AR_EMITTED=''

ar_log() { printf '[%s] %s\n' "$AR_STEP" "$*" >&2; }

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

# ar_print_result LINE: prints the integrity line, then LINE (the JSON result line),
# in one write. SSM returns only the first 24,000 characters of stdout inline; the
# integrity line, first on stdout, is always among them, and the Lambda accepts a
# longer result read from S3 only when its sha256 is this one (docs/contracts.md). If
# hashing fails the line goes out alone: the inline copy is then the only one trusted.
ar_print_result() {
  local sum=''
  read -r sum _ < <(printf '%s' "$1" | sha256sum) || sum=''
  if [[ $sum =~ ^[0-9a-f]{64}$ ]]; then
    printf 'result-sha256 %s\n%s\n' "$sum" "$1"
  else
    printf '%s\n' "$1"
  fi
}

# ar_emit STATUS: prints the result line. Exactly one line per run, always last.
ar_emit() {
  local line key
  line="{\"step\":\"$AR_STEP\",\"status\":\"$1\""
  for key in "${AR_OUT_KEYS[@]}"; do line+=",\"$key\":${AR_OUT[$key]}"; done
  ar_print_result "$line}"
  AR_EMITTED=1
}

# ar_fail CODE MESSAGE: prints the FAILED line and exits with CODE (2 = bad parameters,
# nothing touched; 1 = any other failure). The exit trap then resumes the agent if it
# is suspended and releases the mutex. Never call it inside $(...).
ar_fail() {
  local err
  if [[ -z $AR_EMITTED ]]; then
    ar_json_str err "$2"
    ar_print_result "{\"step\":\"$AR_STEP\",\"status\":\"FAILED\",\"error\":$err}"
    AR_EMITTED=1
  fi
  ar_log "FAILED: $2"
  exit "$1"
}
