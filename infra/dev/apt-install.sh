#!/usr/bin/env bash
# Installs Debian packages non-interactively (as root, or through sudo); used by the infra scripts.
# --no-install-recommends: e.g. docker-compose recommends a whole Docker engine we do not need.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: infra/dev/apt-install.sh PACKAGE..." >&2; exit 2; }
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "apt-install.sh: need root (or sudo) to install $*" >&2; exit 1; }
  sudo=(sudo)
fi
command -v apt-get >/dev/null 2>&1 || { echo "apt-install.sh: apt-get not found; install $* yourself" >&2; exit 1; }
echo "apt-install.sh: installing $* with apt-get" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
