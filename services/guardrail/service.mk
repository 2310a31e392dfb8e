# guardrail: run, test, eval and bench targets (included by the root Makefile).
.PHONY: run-guardrail test-guardrail eval-guardrail bench-guardrail

run-guardrail: sync kafka-up ## run the guardrail on 127.0.0.1:8084
	$(RUN) --package guardrail guardrail serve

test-guardrail: sync kafka-up pg-up ## agentbus.guard and the guardrail's tests (real broker, SQLite and PostgreSQL)
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	  $(RUN) pytest -p no:cacheprovider -q libs/guard services/guardrail

eval-guardrail: sync ## P/R/F1 per entity and injection P/R/FPR (INJECTION_DATA=file.jsonl), beside Presidio (offline)
	$(RUN) --group eval python bench/guardrail_eval.py $(if $(INJECTION_DATA),--injection-data "$(INJECTION_DATA)")

bench-guardrail: sync ## MB/s per core and p99 per 1 KB text, beside Presidio's pattern recognizers
	$(RUN) --group eval python bench/guardrail_bench.py
