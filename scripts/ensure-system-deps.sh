#!/usr/bin/env bash
# Install (with apt-get, only when missing) the system packages the test suite needs:
#   - PostgreSQL server binaries (initdb/pg_ctl), used by tests/support/postgres.py
#   - Chromium and chromedriver (/usr/bin/chromium, /usr/bin/chromedriver)
#   - the openssl command, which checks a wallet pass's signature (tests/test_wallet_apple.py)
# Prints one line and does nothing when everything is already present.
# Exit status: 0 when everything is (now) present; 1 when something is missing
# and this script cannot install it (not root, or no apt-get).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

have_postgres() {
    command -v initdb >/dev/null 2>&1 && return 0
    local bin
    for bin in /usr/lib/postgresql/*/bin/initdb; do
        [[ -x "$bin" ]] && return 0
    done
    return 1
}

have_chromium() {
    [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]
}

missing=()
have_postgres || missing+=(postgresql)
have_chromium || missing+=(chromium chromium-driver)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

if ((${#missing[@]} == 0)); then
    echo "ensure-system-deps: all system dependencies present (postgresql, chromium, chromedriver, openssl)."
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "ensure-system-deps: missing system packages: ${missing[*]}" >&2
    echo "Install them as root, e.g.: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-system-deps: missing system packages: ${missing[*]}; apt-get not available, install them with your package manager." >&2
    exit 1
fi

echo "ensure-system-deps: installing ${missing[*]} ..."
apt-get update -qq
apt-get install -y -qq "${missing[@]}"

# Verify.
still=()
have_postgres || still+=(postgresql)
have_chromium || still+=(chromium chromium-driver)
if ((${#still[@]} > 0)); then
    echo "ensure-system-deps: still missing after install: ${still[*]}" >&2
    exit 1
fi
echo "ensure-system-deps: installed ${missing[*]}."
