#!/usr/bin/env bash
# Installs what the test suite needs and the machine lacks: redis-server
# (the Redis store's tests and the end-to-end tests run a real one),
# redis-cli (redis-tools; the cluster tests create their cluster with it),
# nats-server (the nats queue destination's tests run it with JetStream),
# promtool (prometheus; the shipped alert rules are checked with it),
# systemd-analyze (systemd; the shipped unit is verified with it) and
# chromium (the dashboard's browser test drives it headless).
# Debian/Ubuntu; run as root or with sudo available.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v go >/dev/null 2>&1 || { echo "deps: Go is required (https://go.dev/dl/), see go.mod for the version" >&2; exit 1; }

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
