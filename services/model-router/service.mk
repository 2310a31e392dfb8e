# model-router targets (included by the root Makefile).
.PHONY: bench-router model-router

# --inexact: adding the bench group must not remove other groups from a shared .venv.
bench-router: ## model-router: added latency and throughput vs direct httpx and LiteLLM's Router
	flock /tmp/agentbus-uv.lock $(UV) sync --locked --all-packages --inexact --group bench
	$(UV) run --locked --inexact --group bench python bench/model_router_overhead.py $(BENCH_ARGS)

model-router: sync kafka-up ## run the model-router (Kafka consumer + HTTP API on :8082)
	$(RUN) --package model-router model-router
