#!/usr/bin/env bash
# Validates a compose file without a Docker engine (installs Debian's docker-compose when no compose tool exists).
set -euo pipefail

file="${1:-}"
if [ -z "$file" ] || [ "$#" -ne 1 ]; then
  echo "usage: infra/dev/compose-check.sh FILE" >&2
  exit 2
fi
if [ ! -f "$file" ]; then
  echo "compose-check.sh: no such file: $file" >&2
  exit 2
fi

install_compose() {
  # The package recommends docker.io (an engine); apt-install.sh skips recommends.
  "$(dirname "$0")/apt-install.sh" docker-compose
}

# Compose v2 (the docker CLI plugin) when present, else the standalone v1 (Debian ships 1.29).
# `config` only parses, interpolates and validates against the schema: neither needs a daemon.
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  command -v docker-compose >/dev/null 2>&1 || install_compose
  compose=(docker-compose)
fi
exec "${compose[@]}" -f "$file" config --quiet
