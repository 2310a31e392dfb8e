# agentbus developer commands. `make demo` and `make test` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell infra/dev/ensure-uv.sh)
RUN := $(UV) run --locked

.PHONY: test-deps help sync lint format typecheck compose-check test test-fast demo \
        kafka-up kafka-down kafka-status pg-up pg-down topics schemas check-schemas bench clean \
        up down ps logs bench-e2e test-heavy

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

sync: ## install Python (uv) and every workspace package into .venv
	$(UV) sync --locked --all-packages

lint: sync compose-check ## ruff, mypy --strict, shellcheck, docker-compose config, kubeconform
	command -v shellcheck >/dev/null || infra/dev/apt-install.sh shellcheck
	shellcheck -x infra/dev/*.sh infra/k8s/kubeconform.sh infra/kafka/kafka.sh infra/kafka/production/acls.sh infra/postgres/pg.sh .ci/run
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	$(RUN) mypy contracts/src libs/*/src $$(ls -d services/*/src 2>/dev/null)
	infra/k8s/kubeconform.sh

format: sync ## apply ruff format and fixes
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

compose-check: ## validate docker-compose.yml (installs Debian's docker-compose if missing)
	infra/dev/compose-check.sh docker-compose.yml

kafka-up: ## install (first time) and start the local KRaft broker on 127.0.0.1
	infra/kafka/kafka.sh up

kafka-down: ## stop the local broker
	infra/kafka/kafka.sh down

kafka-status: ## is the local broker up?
	infra/kafka/kafka.sh status

pg-up: ## install (first time) and start PostgreSQL on 127.0.0.1
	infra/postgres/pg.sh up

pg-down: ## stop the local PostgreSQL
	infra/postgres/pg.sh down

topics: sync kafka-up ## create every catalogue topic (idempotent)
	$(RUN) agentbus topics create --bootstrap $$(infra/kafka/kafka.sh bootstrap)

schemas: sync ## regenerate contracts/schemas from the models (refuses breaking changes)
	$(RUN) python -m contracts.schemagen write

check-schemas: sync ## fail when committed schemas are stale or a change breaks compatibility
	$(RUN) python -m contracts.schemagen check

test-deps: ## Debian tools the suite drives: headless chromium (audit report), kcat (plain client)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || infra/dev/apt-install.sh chromium
	@command -v kcat >/dev/null || infra/dev/apt-install.sh kcat

test: sync kafka-up pg-up check-schemas test-deps ## the whole suite against a real broker and databases
	AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) \
	  $(RUN) pytest -p no:cacheprovider -m "not heavy" --durations=15 $(PYTEST_ARGS)

test-heavy: sync kafka-up pg-up ## long end-to-end runs: AGENTBUS_E2E_RUNS runs through 2 replicas, kills, broker restart
	AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) \
	  $(RUN) pytest -p no:cacheprovider -m heavy -s $(PYTEST_ARGS) tests/e2e

test-fast: sync ## unit tests only (no broker)
	$(RUN) pytest -m "not integration and not e2e" $(PYTEST_ARGS)

up: sync ## start Kafka, the topics and every service as its own process (var/stack)
	infra/dev/stack.sh up

down: ## stop every service started by `make up` (SIGTERM, then SIGKILL)
	infra/dev/stack.sh down

ps: ## name, pid, port and readiness of every service of `make up`
	@infra/dev/stack.sh ps

logs: ## the end of every service's log (make logs SERVICE=planner follows one)
	@infra/dev/stack.sh logs $(SERVICE)

demo: sync kafka-up ## make up, then a governed refund workflow through every service (rich)
	$(RUN) python demo/run.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)

bench-e2e: up ## 5-step governed workflow: agentbus vs Temporal (dev server) vs a raw Kafka hop
	flock /tmp/agentbus-uv.lock $(UV) sync --locked --all-packages --inexact --group bench
	$(UV) run --locked --inexact --group bench python bench/e2e_workflow.py \
	  --bootstrap $$(infra/kafka/kafka.sh bootstrap) $(BENCH_ARGS)

bench: sync kafka-up pg-up ## the bus runtime beside raw aiokafka: latency, then throughput
	$(RUN) python bench/bus_roundtrip.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)
	$(RUN) python bench/bus_throughput.py --bootstrap $$(infra/kafka/kafka.sh bootstrap) \
	  --postgres-url $$(infra/postgres/pg.sh url)

clean: kafka-down ## stop Kafka and remove caches (keeps downloaded jars)
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache

# Each service adds its own targets (bench-<name>, eval-<name>, ...) in services/<name>/service.mk.
-include services/*/service.mk
