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

# ar_utf8_clean VAR STRING: VAR = STRING with every byte that is not part of a valid
# UTF-8 sequence written as the text \xNN. The functions read a result line as UTF-8
# and hash what they decoded: bytes they would replace must never reach them.
ar_utf8_clean() {
  local -n __ar_uc=$1
  local LC_ALL=C __ar_s=$2 __ar_o='' __ar_i=0 __ar_b __ar_k __ar_j __ar_c __ar_lo __ar_hi
  if [[ $__ar_s != *[$'\x80'-$'\xff']* ]]; then __ar_uc=$__ar_s; return 0; fi
  while ((__ar_i < ${#__ar_s})); do
    printf -v __ar_b '%d' "'${__ar_s:__ar_i:1}"
    ((__ar_b >= 0)) || __ar_b=$((__ar_b + 256))
    # Sequence length and the range of its second byte (no overlong form, no surrogate).
    __ar_k=0 __ar_lo=128 __ar_hi=191
    if ((__ar_b < 128)); then __ar_k=1
    elif ((__ar_b >= 194 && __ar_b <= 223)); then __ar_k=2
    elif ((__ar_b >= 224 && __ar_b <= 239)); then
      __ar_k=3
      ((__ar_b != 224)) || __ar_lo=160
      ((__ar_b != 237)) || __ar_hi=159
    elif ((__ar_b >= 240 && __ar_b <= 244)); then
      __ar_k=4
      ((__ar_b != 240)) || __ar_lo=144
      ((__ar_b != 244)) || __ar_hi=143
    fi
    for ((__ar_j = 1; __ar_j < __ar_k; __ar_j++)); do
      printf -v __ar_c '%d' "'${__ar_s:__ar_i+__ar_j:1}"
      ((__ar_c >= 0)) || __ar_c=$((__ar_c + 256))
      if ((__ar_c < __ar_lo || __ar_c > __ar_hi)); then __ar_k=0 && break; fi
      __ar_lo=128 __ar_hi=191
    done
    if ((__ar_k > 0)); then
      __ar_o+=${__ar_s:__ar_i:__ar_k} __ar_i=$((__ar_i + __ar_k))
    else
      printf -v __ar_c '\\x%02x' "$__ar_b"
      __ar_o+=$__ar_c __ar_i=$((__ar_i + 1))
    fi
  done
  __ar_uc=$__ar_o
}

# ar_json_str VAR STRING: VAR = STRING as a JSON string literal (quotes included),
# valid UTF-8 (ar_utf8_clean).
ar_json_str() {
  local -n __ar_js=$1
  local __ar_jv __ar_i __ar_hex __ar_ch
  ar_utf8_clean __ar_jv "$2"
  local __ar_s=$__ar_jv
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
# is suspended and releases the mutex. With AR_FAIL_CURRENT set (a step that failed
# after its cutover, knowing which release serves), the line names it: currentVersion.
# Never call it inside $(...).
ar_fail() {
  local err cur=''
  if [[ -z $AR_EMITTED ]]; then
    ar_json_str err "$2"
    if [[ -n ${AR_FAIL_CURRENT:-} ]]; then
      ar_json_str cur "$AR_FAIL_CURRENT"
      cur=",\"currentVersion\":$cur"
    fi
    ar_print_result "{\"step\":\"$AR_STEP\",\"status\":\"FAILED\",\"error\":$err$cur}"
    AR_EMITTED=1
  fi
  ar_log "FAILED: $2"
  exit "$1"
}
