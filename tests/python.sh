#!/usr/bin/env bash
# Runs one Python test in the pinned reference environment ($TFM_PYTHON, made by scripts/setup.sh --test);
# a missing or partial environment is a failure that names the fix, never a skip.
set -u
python=${TFM_PYTHON:?TFM_PYTHON not set}
if ! "$python" -c 'import sys' >/dev/null 2>&1; then
  echo "FAILED: the reference environment's Python $python does not run (run scripts/setup.sh --test)"
  exit 1
fi
exec "$python" "$@"
