# planner: make targets (included by the root Makefile)
.PHONY: bench-planner planner

bench-planner: sync kafka-up ## planner runs/s and run latency (5-step workflow) beside the raw aiokafka hop
	$(RUN) python bench/planner_throughput.py --bootstrap $$(infra/kafka/kafka.sh bootstrap)

planner: sync kafka-up ## run the planner locally (HTTP on 127.0.0.1:8081)
	mkdir -p var && $(RUN) --package planner planner
