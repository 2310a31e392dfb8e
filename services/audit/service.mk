# audit: run, test and bench targets (included by the root Makefile).
.PHONY: run-audit test-audit bench-audit

run-audit: sync kafka-up ## run the audit service on 127.0.0.1:8086
	AUDIT_BUS__BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) $(RUN) --package audit audit serve

test-audit: sync kafka-up pg-up ## the audit service's tests (real broker, SQLite and PostgreSQL, headless chromium)
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	  $(RUN) pytest -p no:cacheprovider -q services/audit

bench-audit: sync kafka-up ## ingest, replay and verification records/s beside a raw aiokafka consume
	$(RUN) python bench/audit_throughput.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)
