-- docker-compose: one database per service (each has its own inbox, outbox and tables), created on
-- the first start of the postgres container (/docker-entrypoint-initdb.d).
CREATE DATABASE planner OWNER agentbus;
CREATE DATABASE model_router OWNER agentbus;
CREATE DATABASE tool_executor OWNER agentbus;
CREATE DATABASE guardrail OWNER agentbus;
CREATE DATABASE approval OWNER agentbus;
CREATE DATABASE audit OWNER agentbus;
CREATE DATABASE evaluation OWNER agentbus;
