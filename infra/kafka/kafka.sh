#!/usr/bin/env bash
# Installs (Maven Central jars) and runs a single-node KRaft Apache Kafka broker on 127.0.0.1 for dev and tests.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: infra/kafka/kafka.sh COMMAND

  install     resolve the broker jars with Maven into the cache (skipped when pom.xml is unchanged)
  up          install if needed, format storage once, start the broker and wait until it answers
  down        stop the broker (SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT seconds)
  status      exit 0 when a broker answers on the bootstrap address, non-zero otherwise
  bootstrap   print the bootstrap address (127.0.0.1:PORT)
  logs [-f]   print (or follow) the end of the server log

environment:
  KAFKA_PORT             client listener port            (default 19092)
  KAFKA_CONTROLLER_PORT  KRaft controller listener port  (default 19093)
  KAFKA_HEAP_OPTS        JVM heap flags                  (default -Xmx512m -Xms256m)
  KAFKA_START_TIMEOUT    seconds to wait for readiness   (default 120)
  KAFKA_STOP_TIMEOUT     seconds to wait for shutdown    (default 30)
  AGENTBUS_CACHE         cache root                      (default <repo>/.cache)
EOF
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CACHE_DIR="${AGENTBUS_CACHE:-$REPO_ROOT/.cache}/kafka"
LIBS_DIR="$CACHE_DIR/libs"
LIBS_STAMP="$CACHE_DIR/libs.sha256"
DATA_DIR="$CACHE_DIR/data"
RUN_DIR="$CACHE_DIR/run"
LOG_DIR="$CACHE_DIR/logs"
PID_FILE="$RUN_DIR/kafka.pid"
SERVER_CONF="$RUN_DIR/server.properties"
SERVER_LOG="$LOG_DIR/server.log"
STDOUT_LOG="$LOG_DIR/stdout.log"

KAFKA_PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
# Pinned so a fresh machine resolves the same plugin as this one (Maven 3.8's default is 2.8).
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

LOG_NAME=kafka.sh
# shellcheck source=infra/dev/log.sh
source "$REPO_ROOT/infra/dev/log.sh"

die_with_logs() { die_showing "$*" "$SERVER_LOG" "$STDOUT_LOG"; }

# Serialises up/down/install so two callers (e.g. parallel make targets) never race on the pid file.
take_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/lock"
  flock -w 600 9 || die "another kafka.sh has held $RUN_DIR/lock for 10 minutes"
}

apt_install() {
  "$REPO_ROOT/infra/dev/apt-install.sh" "$@"
}

java_major() {
  java -XshowSettings:properties -version 2>&1 |
    awk -F'= ' '/java.specification.version/ && !seen++ {print $2}' | cut -d. -f1
}

ensure_java() {
  if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
    apt_install openjdk-17-jre-headless
  fi
}

ensure_maven() {
  command -v mvn >/dev/null 2>&1 || apt_install maven
}

libs_current() {
  [ -f "$LIBS_STAMP" ] && compgen -G "$LIBS_DIR/kafka_2.13-*.jar" >/dev/null &&
    [ "$(cat "$LIBS_STAMP")" = "$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)" ]
}

install_libs() {
  ensure_java
  if libs_current; then
    return 0
  fi
  ensure_maven
  mkdir -p "$CACHE_DIR" "$LOG_DIR"
  local staging="$CACHE_DIR/libs.staging.$$"
  local started=$SECONDS
  rm -rf "$staging"
  log "resolving Kafka jars from Maven Central into $LIBS_DIR"
  if ! mvn -q -B -f "$HERE/pom.xml" "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$staging" >"$LOG_DIR/mvn.log" 2>&1; then
    rm -rf "$staging"
    tail -n 40 "$LOG_DIR/mvn.log" >&2
    die "mvn could not resolve infra/kafka/pom.xml (full output: $LOG_DIR/mvn.log)"
  fi
  # Swap in the new set whole, so an interrupted download never leaves a half-populated classpath.
  rm -rf "$LIBS_DIR"
  mv "$staging" "$LIBS_DIR"
  sha256sum "$HERE/pom.xml" | cut -d' ' -f1 >"$LIBS_STAMP"
  log "installed $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - started))s"
}

render_config() {
  mkdir -p "$RUN_DIR" "$DATA_DIR" "$LOG_DIR"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$DATA_DIR|g" \
    "$HERE/server.properties" >"$SERVER_CONF"
}

run_java() {
  java -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS_DIR/*" "$@"
}

format_storage() {
  if [ -f "$DATA_DIR/meta.properties" ]; then
    return 0
  fi
  local cluster_id
  cluster_id="$(run_java kafka.tools.StorageTool random-uuid)"
  log "formatting KRaft storage in $DATA_DIR (cluster id $cluster_id)"
  run_java kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$SERVER_CONF" \
    --ignore-formatted >"$LOG_DIR/format.log" 2>&1 ||
    die_with_logs "formatting storage failed: $(cat "$LOG_DIR/format.log")"
}

port_open() {
  ( { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null )
}

# A real Metadata request (api key 3, v4: fixed-width, served from Kafka 1.0 to 4.x) for all topics,
# written in the wire format by hand so that a readiness check costs no JVM start-up. Succeeds when
# the reply carries our correlation id and lists at least one broker.
metadata_answers() (
  { exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT"; } 2>/dev/null || exit 1
  # size=23 | api_key=3 api_version=4 correlation_id="abus" client_id="kafka.sh" | topics=null auto_create=false
  printf '\x00\x00\x00\x17\x00\x03\x00\x04abus\x00\x08kafka.sh\xff\xff\xff\xff\x00' >&3
  # Reply: size(4) correlation_id(4) throttle_time_ms(4) broker_count(4) ...
  reply="$(timeout 5 od -An -v -tx1 -N16 <&3 | tr -d ' \n')" || exit 1
  [ "${#reply}" -eq 32 ] && [ "${reply:8:8}" = "61627573" ] && [ $((16#${reply:24:8})) -ge 1 ]
)

broker_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guards against a recycled pid that now belongs to some other program.
  # (Read whole, not piped to grep -q, whose early exit would SIGPIPE tr under pipefail.)
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *kafka.Kafka* ]] || return 1
  echo "$pid"
}

wait_ready() {
  local pid="$1" started="$2"
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if metadata_answers; then
      log "broker ready on 127.0.0.1:$KAFKA_PORT (pid $pid, $((SECONDS - started))s)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die_with_logs "the broker (pid $pid) exited during start-up"
    sleep 1
  done
  die_with_logs "the broker (pid $pid) did not answer a metadata request within ${START_TIMEOUT}s"
}

start_broker() {
  local started=$SECONDS
  install_libs
  render_config
  format_storage
  : >"$STDOUT_LOG"
  rm -f "$PID_FILE"
  local jvm_opts
  read -r -a jvm_opts <<<"$HEAP_OPTS"
  # setsid + nohup: the broker outlives this script and the caller's terminal or make job.
  # The launcher writes its own pid (exec keeps it), which is the JVM's pid whatever setsid does.
  # 9>&-: the broker must not inherit the lock, or every later kafka.sh would wait on it.
  # shellcheck disable=SC2016  # $$, $1 and $@ belong to the launcher shell, not to this one.
  nohup setsid bash -c 'echo "$$" >"$1"; shift; exec "$@"' kafka-launcher "$PID_FILE" \
    java "${jvm_opts[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$SERVER_CONF" >"$STDOUT_LOG" 2>&1 </dev/null 9>&- &
  local deadline=$((SECONDS + 10)) pid=""
  until pid="$(broker_pid)"; do
    [ "$SECONDS" -lt "$deadline" ] || die_with_logs "the broker process did not start"
    sleep 0.2
  done
  log "started broker (pid $pid), waiting for it to answer on 127.0.0.1:$KAFKA_PORT"
  wait_ready "$pid" "$started"
}

cmd_up() {
  take_lock
  local pid
  if pid="$(broker_pid)"; then
    if metadata_answers; then
      log "already up on 127.0.0.1:$KAFKA_PORT (pid $pid)"
      return 0
    fi
    wait_ready "$pid" "$SECONDS"
    return 0
  fi
  if [ -f "$PID_FILE" ]; then
    log "removing stale pid file $PID_FILE"
    rm -f "$PID_FILE"
  fi
  if metadata_answers; then
    log "a broker not started by kafka.sh already answers on 127.0.0.1:$KAFKA_PORT; using it"
    return 0
  fi
  for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "port $port on 127.0.0.1 is taken by something that is not a Kafka broker (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
    fi
  done
  start_broker
}

cmd_down() {
  take_lock
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "no exit after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    if metadata_answers; then
      echo "running: pid $pid, bootstrap 127.0.0.1:$KAFKA_PORT"
      return 0
    fi
    echo "not answering: pid $pid is alive but 127.0.0.1:$KAFKA_PORT does not answer metadata requests"
    return 1
  fi
  if metadata_answers; then
    echo "running: a broker not started by kafka.sh answers on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  echo "not running"
  return 3
}

cmd_logs() {
  [ -f "$SERVER_LOG" ] || die "no server log yet at $SERVER_LOG"
  if [ "${1:-}" = "-f" ]; then
    exec tail -n 100 -F "$SERVER_LOG"
  fi
  tail -n 100 "$SERVER_LOG"
}

case "${1:-}" in
  install)
    take_lock
    install_libs
    ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  bootstrap) echo "127.0.0.1:$KAFKA_PORT" ;;
  logs) cmd_logs "${2:-}" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
