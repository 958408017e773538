#!/usr/bin/env bash
# System packages the tests use, from Debian: chromium (the dashboard's browser test) and
# redis-server (the Redis decisions backend's tests start their own) and a Java runtime (Spark).
# Installs only what is missing, and only where it can (root with apt); otherwise it says
# what to install and the browser test is skipped (CI=true makes it fail instead).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)  # Spark (analyze --spark)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
else
  echo "note: install ${missing[*]} (Debian: apt-get install ${missing[*]}) to run the browser tests" >&2
fi
