# evaluation: run, test and bench targets (included by the root Makefile).
.PHONY: run-evaluation test-evaluation bench-evaluation

run-evaluation: sync kafka-up ## run the evaluation service on 127.0.0.1:8087
	$(RUN) --package evaluation evaluation serve

test-evaluation: sync kafka-up ## the evaluation service's tests (real broker, SQLite and PostgreSQL; e2e on a private platform)
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	  $(RUN) pytest -p no:cacheprovider -q services/evaluation

bench-evaluation: sync kafka-up ## scored cases/s end to end beside a raw aiokafka round trip; scorers beside hand-written checks
	$(RUN) python bench/evaluation_bench.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)
