# shellcheck shell=bash
# Messages for the infra scripts; source it after setting LOG_NAME.

log() { echo "${LOG_NAME:-infra}: $*" >&2; }
die() { log "error: $*"; exit 1; }

# die_showing MESSAGE FILE...: fail, printing the end of each non-empty log file.
die_showing() {
  local message=$1 f
  shift
  log "error: $message"
  for f in "$@"; do
    if [ -s "$f" ]; then
      echo "----- last 40 lines of $f -----" >&2
      tail -n 40 "$f" >&2
    fi
  done
  exit 1
}
