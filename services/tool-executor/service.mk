# tool-executor: run, test and bench targets (included by the root Makefile).
.PHONY: run-tool-executor test-tool-executor bench-tools bench-tool-executor

run-tool-executor: sync kafka-up ## run the tool-executor on 127.0.0.1:8083
	$(RUN) --package tool-executor tool-executor serve

test-tool-executor: sync kafka-up pg-up ## the tool-executor's tests (real broker, SQLite and PostgreSQL)
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	  $(RUN) pytest -p no:cacheprovider -q services/tool-executor

bench-tools: sync kafka-up ## executor latency over a direct HTTP call, and throughput at 100 ms tool latency
	$(RUN) python bench/tool_executor_bench.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)

bench-tool-executor: bench-tools
