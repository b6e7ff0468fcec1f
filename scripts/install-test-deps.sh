#!/usr/bin/env bash
# Installs the Debian packages the test suite needs on a fresh machine.
set -euo pipefail

packages=(
  tmux                  # the end-to-end test of the cockpit runs the binary in a real terminal
  bind9                 # DNS tests: the primary authoritative server, taking TSIG-signed updates
  bind9-utils
  bind9-dnsutils        # dig and nsupdate: the tests inspect and change zones with them
  knot                  # DNS tests: the secondary authoritative server (NOTIFY, zone transfer)
  knot-dnsutils
  pdns-server           # DNS tests: PowerDNS through its HTTP API
  pdns-backend-sqlite3
  sqlite3
  prometheus            # metrics tests: a real Prometheus (and promtool, to backfill history)
  strace                # crash-safety tests: what reaches the disk (fsync) before a step acts
  man-db                # the man page test renders `cutover man` with `man -l`
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl drives the fake Kubernetes API server in the fidelity tests. Any recent kubectl
# will do; when there is none, Debian's kubernetes-client provides one.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
# pip installs moto (below); a machine without python3 or its pip gets Debian's.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3 python3-pip)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The Route 53 tests run a real implementation of its API: moto's server, from PyPI (the
# tests start it with `python3 -m moto.server`). Debian's own python3 is marked externally
# managed (PEP 668) and its pip refuses to install without leave; the variable gives it
# (older pips ignore it). Not root: pip installs for the user, where python3 finds it too.
if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet 'moto[server]'
fi
