# planner: run, test and bench targets (included by the root Makefile).
.PHONY: run-planner test-planner bench-planner planner

run-planner: sync kafka-up ## run the planner locally (HTTP on 127.0.0.1:8081)
	mkdir -p var && $(RUN) --package planner planner

planner: run-planner # the target's earlier name

test-planner: sync kafka-up pg-up ## the planner's tests (real broker, SQLite and PostgreSQL)
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	  $(RUN) pytest -p no:cacheprovider -q services/planner

bench-planner: sync kafka-up ## planner runs/s and run latency (5-step workflow) beside the raw aiokafka hop
	$(RUN) python bench/planner_throughput.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)
