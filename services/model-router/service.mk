# model-router: run, test and bench targets (included by the root Makefile).
.PHONY: run-model-router test-model-router bench-model-router model-router bench-router

run-model-router: sync kafka-up ## run the model-router (Kafka consumer + HTTP API on 127.0.0.1:8082)
	$(RUN) --package model-router model-router

model-router: run-model-router # the target's earlier name

test-model-router: sync kafka-up pg-up ## the model-router's tests (real broker, fake providers over HTTP, SQLite and PostgreSQL)
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	  $(RUN) pytest -p no:cacheprovider -q services/model-router

# --inexact: adding the bench group must not remove other groups from a shared .venv.
bench-model-router: ## added latency and throughput vs direct httpx and LiteLLM's Router
	flock /tmp/agentbus-uv.lock $(UV) sync --locked --all-packages --inexact --group bench
	$(UV) run --locked --inexact --group bench python bench/model_router_overhead.py $(BENCH_ARGS)

bench-router: bench-model-router # the target's earlier name
