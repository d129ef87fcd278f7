# Shared by scripts/demo and scripts/test: a virtualenv in .venv with pinned dependencies.
setup_python_env() {
  local extra=${1:-}
  local python=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  if [ -n "$extra" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$extra]"
  else
    .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e .
  fi
}
