#!/usr/bin/env bash
# The local agentbus stack: Kafka, the catalogue topics and every service as its own process.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: infra/dev/stack.sh COMMAND

  up          start Kafka, create the topics, mint the demo API keys, then start every process
              not already running and wait for its /readyz (a second `up` leaves running ones alone)
  down        SIGTERM every process, SIGKILL what is left after STACK_STOP_GRACE seconds
  ps          name, pid, port and readiness of every process
  logs [NAME] the end of every log (or follow one: logs planner)
  env NAME    print the environment NAME is started with (API keys hidden)
  keys        print the demo API keys (JSON: subject -> key)

processes (port): traces 14318 (OTLP/HTTP -> JSON lines), shop 8090 (the demo's upstream
shop API), planner 8081, model-router 8082, tool-executor 8083, guardrail 8084, approval 8085,
audit 8086, evaluation 8087. Each keeps its SQLite database, log and pid file under STACK_DIR.

environment:
  STACK_DIR             state directory               (default <repo>/var/stack)
  STACK_READY_TIMEOUT   seconds to wait for /readyz   (default 120)
  STACK_STOP_GRACE      seconds between TERM and KILL (default 20)
  STACK_LOG_LEVEL       services' log level           (default INFO)
EOF
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LOG_NAME=stack
# shellcheck source=infra/dev/log.sh
. "$HERE/log.sh"

STACK_DIR="${STACK_DIR:-$ROOT/var/stack}"
READY_TIMEOUT="${STACK_READY_TIMEOUT:-120}"
STOP_GRACE="${STACK_STOP_GRACE:-20}"
LOG_LEVEL="${STACK_LOG_LEVEL:-INFO}"
CONFIG="$ROOT/demo/config"
PY="$ROOT/.venv/bin/python"
TRACES_PORT=14318
SHOP_PORT=8090

# Start order: the trace sink and the shop first, so the services find them at once.
PROCESSES=(traces shop planner model-router tool-executor guardrail approval audit evaluation)

port_of() {
  case "$1" in
    traces) echo "$TRACES_PORT" ;;
    shop) echo "$SHOP_PORT" ;;
    planner) echo 8081 ;;
    model-router) echo 8082 ;;
    tool-executor) echo 8083 ;;
    guardrail) echo 8084 ;;
    approval) echo 8085 ;;
    audit) echo 8086 ;;
    evaluation) echo 8087 ;;
    *) die "unknown process $1" ;;
  esac
}

pid_file() { echo "$STACK_DIR/run/$1.pid"; }
log_file() { echo "$STACK_DIR/logs/$1.log"; }

running_pid() {
  local file pid
  file=$(pid_file "$1")
  [ -s "$file" ] || return 1
  pid=$(cat "$file")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

is_ready() {
  # traces and shop have no broker or database; /readyz there just answers.
  local url
  url="http://127.0.0.1:$(port_of "$1")/readyz"
  if command -v curl >/dev/null 2>&1; then
    curl -fs -o /dev/null --max-time 3 "$url"
  else
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$url" 2>/dev/null
  fi
}

bootstrap() { "$ROOT/infra/kafka/kafka.sh" bootstrap; }

# The console script of a service; `uv run` when the venv lacks it (fresh clone before sync).
command_of() {
  local name=$1
  case "$name" in
    traces) echo "$PY $ROOT/infra/otel/file_sink.py --port $TRACES_PORT --out $STACK_DIR/traces.jsonl" ;;
    shop) echo "$PY $ROOT/demo/shop.py --port $SHOP_PORT --state $STACK_DIR/shop.json" ;;
    *)
      if [ -x "$ROOT/.venv/bin/$name" ]; then
        echo "$ROOT/.venv/bin/$name"
      else
        echo "$("$ROOT/infra/dev/ensure-uv.sh") run --locked --package $name $name"
      fi
      ;;
  esac
}

# env_of NAME: KEY=VALUE lines. Every nested field a service relies on is set explicitly:
# pydantic-settings rebuilds a nested model from env alone, so one field would drop the rest.
env_of() {
  local name=$1 prefix port
  case "$name" in traces | shop) return 0 ;; esac
  prefix="$(echo "$name" | tr 'a-z-' 'A-Z_')_"
  port=$(port_of "$name")
  cat <<EOF
${prefix}BUS__BOOTSTRAP_SERVERS=$(bootstrap)
${prefix}BUS__DATABASE_URL=sqlite:///$STACK_DIR/db/$name.db
${prefix}BUS__CONSUMER_GROUP=$name
${prefix}BUS__CLIENT_ID=$name
${prefix}HTTP__HOST=127.0.0.1
${prefix}HTTP__PORT=$port
${prefix}HTTP__API_KEYS_FILE=$STACK_DIR/api-keys.json
${prefix}TELEMETRY__OTLP_ENDPOINT=http://127.0.0.1:$TRACES_PORT
${prefix}TELEMETRY__METRIC_EXPORT_INTERVAL_MS=60000
${prefix}LOG_LEVEL=$LOG_LEVEL
EOF
  case "$name" in
    model-router) echo "MODEL_ROUTER_ROUTING_CONFIG=$CONFIG/routing.yaml" ;;
    tool-executor)
      echo "TOOL_EXECUTOR_TOOLS_DIR=$CONFIG/tools"
      echo "TOOL_EXECUTOR_GRANTS_FILE=$CONFIG/grants.yaml"
      ;;
    guardrail) echo "GUARDRAIL_POLICY_DIR=$CONFIG/policies" ;;
    audit)
      echo "AUDIT_SIGNING__PRIVATE_KEY_FILE=$STACK_DIR/audit-signing.key"
      echo "AUDIT_SIGNING__CREATE_MISSING=true"
      echo "AUDIT_CHECKPOINT_INTERVAL_S=10"
      ;;
    evaluation)
      # Its rubric judge calls the router and shadow evaluation reads the planner's runs, as
      # olivia of acme (keys from a file, never in the environment).
      echo "EVALUATION_JUDGE__URL=http://127.0.0.1:8082"
      echo "EVALUATION_JUDGE__API_KEYS_FILE=$STACK_DIR/evaluation-client-keys.json"
      echo "EVALUATION_RECORDED_RUNS__URL=http://127.0.0.1:8081"
      echo "EVALUATION_RECORDED_RUNS__API_KEYS_FILE=$STACK_DIR/evaluation-client-keys.json"
      ;;
  esac
}

# Demo principals of tenant acme, each minted once: keys.json holds the keys (mode 600),
# api-keys.json only their SHA-256 digests, which every service reads. A principal added
# here later is minted on the next `make up`; the others keep their keys.
ensure_keys() {
  (umask 077 && "$PY" - "$STACK_DIR" <<'PY'
import hashlib, json, secrets, sys
from pathlib import Path

state = Path(sys.argv[1])
principals = {
    # subject: roles; each a person of tenant acme (the planner needs two for publishing).
    "olivia": ["operator", "tool-admin", "auditor"],
    "rita": ["reviewer"],
    "dana": ["approver", "refunds-lead"],
    "ada": ["admin"],  # the platform's administrator: e.g. a publish-gate override
}
path = state / "keys.json"
keys = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
minted = [s for s in principals if s not in keys]
keys |= {subject: "ak_" + secrets.token_urlsafe(32) for subject in minted}
entries = [
    {"key_sha256": hashlib.sha256(keys[s].encode()).hexdigest(), "tenant": "acme",
     "subject": s, "roles": roles, "kind": "user"}
    for s, roles in principals.items()
]
path.write_text(json.dumps(keys, indent=2) + "\n")
(state / "api-keys.json").write_text(json.dumps(entries, indent=2) + "\n")
if minted:
    print(f"stack: minted demo API keys for {', '.join(minted)} in {path}", file=sys.stderr)
PY
  ) || die "minting the demo API keys failed"
}

# The evaluation service's client keys (tenant -> key): olivia's, for the router and planner.
ensure_evaluation_keys() {
  [ -s "$STACK_DIR/evaluation-client-keys.json" ] && return 0
  (umask 077 && "$PY" -c 'import json, sys; k = json.load(open(sys.argv[1]))
json.dump({"acme": k["olivia"]}, open(sys.argv[2], "w"))' \
    "$STACK_DIR/keys.json" "$STACK_DIR/evaluation-client-keys.json")
}

start_one() {
  local name=$1 pid logf
  if pid=$(running_pid "$name"); then
    log "$name already running (pid $pid)"
    return 0
  fi
  logf=$(log_file "$name")
  local -a envs=()
  mapfile -t envs < <(env_of "$name")
  # setsid: its own session, so a terminal's Ctrl-C on `make` does not reach it.
  # shellcheck disable=SC2046
  (cd "$STACK_DIR" && exec setsid env "${envs[@]}" $(command_of "$name") >>"$logf" 2>&1 </dev/null) &
  echo $! >"$(pid_file "$name")"
  log "$name started (pid $!, port $(port_of "$name"), log $logf)"
}

# Something listens on 127.0.0.1:$1 (bash's /dev/tcp: no extra tool).
port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_ready() {
  local name=$1 deadline pid
  deadline=$(($(date +%s) + READY_TIMEOUT))
  # Ready means our process is alive and answers: not merely that something answers.
  while true; do
    if ! pid=$(running_pid "$name"); then
      die_showing "$name exited before it was ready" "$(log_file "$name")"
    fi
    is_ready "$name" && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      die_showing "$name (pid $pid) not ready on :$(port_of "$name") after ${READY_TIMEOUT}s" "$(log_file "$name")"
    fi
    sleep 0.5
  done
}

cmd_up() {
  mkdir -p "$STACK_DIR"/{run,logs,db}
  [ -x "$PY" ] || (cd "$ROOT" && "$("$ROOT/infra/dev/ensure-uv.sh")" sync --locked --all-packages)
  "$ROOT/infra/kafka/kafka.sh" up
  "$ROOT/.venv/bin/agentbus" topics create --bootstrap "$(bootstrap)" >/dev/null \
    || die "creating the catalogue topics failed"
  ensure_keys
  ensure_evaluation_keys
  local name
  # Before starting anything: a port another process holds would make that service exit
  # while the other process answers its readiness probe.
  for name in "${PROCESSES[@]}"; do
    if ! running_pid "$name" >/dev/null && port_taken "$(port_of "$name")"; then
      die "port $(port_of "$name") for $name is taken by another process (another \
checkout's stack? 'ss -ltnp sport = :$(port_of "$name")' names it); stop it, then make up again"
    fi
  done
  for name in "${PROCESSES[@]}"; do start_one "$name"; done
  for name in "${PROCESSES[@]}"; do wait_ready "$name"; done
  log "all ready: make ps, make logs, make down"
}

stop_one() {
  local name=$1 pid deadline
  if ! pid=$(running_pid "$name"); then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(date +%s) + STOP_GRACE))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$name (pid $pid) still running after ${STOP_GRACE}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(pid_file "$name")"
  log "$name stopped"
}

cmd_down() {
  local i
  # Reverse order: the services drain before the trace sink they export to.
  for ((i = ${#PROCESSES[@]} - 1; i >= 0; i--)); do stop_one "${PROCESSES[$i]}" & done
  wait
}

cmd_ps() {
  local name pid ready
  printf '%-14s %-8s %-6s %s\n' NAME PID PORT STATE
  for name in "${PROCESSES[@]}"; do
    if pid=$(running_pid "$name"); then
      if is_ready "$name"; then ready=ready; else ready="not ready"; fi
    else
      pid=- ready=stopped
    fi
    printf '%-14s %-8s %-6s %s\n' "$name" "$pid" "$(port_of "$name")" "$ready"
  done
}

cmd_logs() {
  if [ $# -gt 0 ]; then
    port_of "$1" >/dev/null
    exec tail -n 50 -F "$(log_file "$1")"
  fi
  local name
  for name in "${PROCESSES[@]}"; do
    [ -s "$(log_file "$name")" ] || continue
    echo "===== $name ($(log_file "$name"))"
    tail -n 20 "$(log_file "$name")"
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  ps) cmd_ps ;;
  logs) shift; cmd_logs "$@" ;;
  env) port_of "${2:?env NAME}" >/dev/null; env_of "$2" ;;
  keys) cat "$STACK_DIR/keys.json" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
