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

# Debian packages the test suite needs: a PostgreSQL server (the tests start their own throwaway
# cluster), curl and jq, and Chromium for the pages' browser tests (Playwright drives Debian's
# /usr/bin/chromium; its own browser download is not used). Installed only when missing; needs root or sudo.
setup_system_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  # tests/e2e/test_getting_started.py runs docs/getting-started.md, whose commands use curl and jq.
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
