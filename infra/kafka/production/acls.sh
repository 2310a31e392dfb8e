#!/usr/bin/env bash
# EXAMPLE (documentation, not run by tests): SCRAM users and least-privilege ACLs, one principal per agentbus service.
# Usage: KAFKA_BIN=/opt/kafka/bin BOOTSTRAP=kafka-0.kafka.kafka.svc:9094 ADMIN_CONFIG=admin.properties \
#          infra/kafka/production/acls.sh
# admin.properties authenticates as User:admin (a super user in server-sasl-ssl.properties):
#   security.protocol=SASL_SSL
#   sasl.mechanism=SCRAM-SHA-512
#   sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="...";
#   ssl.truststore.type=PEM
#   ssl.truststore.location=/etc/kafka/secrets/tls/ca.pem
# Passwords come from SCRAM_PASSWORD_<SERVICE> (e.g. SCRAM_PASSWORD_MODEL_ROUTER); when one is unset
# the user is left as it is. Re-running is safe: kafka-acls ignores ACLs that already exist.
# Every topic name below comes from contracts/src/contracts/topics.py; a consumer may also write the
# DLQ (<topic>.dlq) of every topic it reads.
set -euo pipefail

KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
BOOTSTRAP="${BOOTSTRAP:?set BOOTSTRAP to a SASL_SSL listener, e.g. kafka-0.kafka.kafka.svc:9094}"
ADMIN_CONFIG="${ADMIN_CONFIG:?set ADMIN_CONFIG to an admin client properties file}"

acls() {
  "$KAFKA_BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --add --force "$@"
}

scram_user() {
  local service="$1" var
  var="SCRAM_PASSWORD_$(echo "$service" | tr 'a-z-' 'A-Z_')"
  if [ -n "${!var:-}" ]; then
    "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" \
      --alter --entity-type users --entity-name "$service" \
      --add-config "SCRAM-SHA-512=[iterations=8192,password=${!var}]"
  fi
}

# grant SERVICE "consumes..." "produces..."
grant() {
  local service="$1" principal="User:$1" topic
  read -r -a consumes <<<"$2"
  read -r -a produces <<<"$3"
  scram_user "$service"
  for topic in "${consumes[@]}"; do
    acls --allow-principal "$principal" --operation Read --operation Describe --topic "$topic"
    produces+=("$topic.dlq")
  done
  for topic in "${produces[@]}"; do
    # Idempotent producers need only Write on the topic since Kafka 3.0 (KIP-679).
    acls --allow-principal "$principal" --operation Write --operation Describe --topic "$topic"
  done
  # Its own consumer group(s): "planner", "planner-replay", ...
  acls --allow-principal "$principal" --operation Read --operation Describe \
    --group "$service" --resource-pattern-type prefixed
  # Its own transactional ids, for services that commit state and output with Kafka transactions.
  acls --allow-principal "$principal" --operation Write --operation Describe \
    --transactional-id "$service" --resource-pattern-type prefixed
}

# The planner also writes tasks.submitted (its HTTP ingress), its own timers and workflows.events.
grant planner \
  "tasks.submitted guardrail.verdicts model.responses tool.results approval.decisions runs.timers" \
  "tasks.submitted guardrail.requests model.requests tool.requests approval.requests runs.events runs.timers workflows.events tasks.completed tasks.failed audit.log"

grant model-router \
  "model.requests" \
  "model.responses usage.records audit.log"

# It follows approvals of tools that need one (approval.requests and approval.decisions).
grant tool-executor \
  "tool.requests approval.requests approval.decisions" \
  "tool.results audit.log"

grant guardrail \
  "guardrail.requests" \
  "guardrail.verdicts audit.log"

# Its deadline and escalation timers fire as events on approval.requests.
grant approval \
  "approval.requests" \
  "approval.requests approval.decisions audit.log"

# The audit service reads the trail (replays from the beginning under the same principal) and
# records its own readers' queries and exports on it.
grant audit \
  "audit.log" \
  "audit.log"

# The evaluation service submits evaluation tasks, scores their results, follows runs and spend
# for AgentOps, and reads its own events to deliver alert webhooks.
grant evaluation \
  "tasks.completed tasks.failed runs.events usage.records evaluations.events" \
  "tasks.submitted evaluations.events audit.log"

"$KAFKA_BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --list
