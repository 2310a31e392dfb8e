# approval: run, test and bench targets (included by the root Makefile).
.PHONY: run-approval test-approval bench-approval

run-approval: sync kafka-up ## run the approval service on 127.0.0.1:8085
	$(RUN) --package approval approval serve

test-approval: sync kafka-up ## the approval service's tests (real broker, SQLite and PostgreSQL)
	KAFKA_BOOTSTRAP_SERVERS=$$(infra/kafka/kafka.sh bootstrap) AGENTBUS_TEST_POSTGRES_URL=$$(infra/postgres/pg.sh url) \
	  $(RUN) pytest -p no:cacheprovider -q services/approval

bench-approval: sync kafka-up ## votes/s and decision latency, beside a bare INSERT baseline
	$(RUN) python bench/approval_votes.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)
