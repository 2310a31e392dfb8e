#!/usr/bin/env bash
# Prints the path of a uv binary, installing uv from PyPI when none is found.
set -euo pipefail
if command -v uv >/dev/null 2>&1; then command -v uv; exit 0; fi
for candidate in "$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
python3 -m pip install --quiet --user --disable-pip-version-check uv >&2 \
  || python3 -m pip install --quiet --disable-pip-version-check uv >&2
python3 - <<'PY'
import shutil, sysconfig, os, site
for d in (os.path.join(site.getuserbase(), "bin"), sysconfig.get_path("scripts")):
    p = os.path.join(d, "uv")
    if os.path.exists(p):
        print(p); break
else:
    print(shutil.which("uv") or "uv")
PY
