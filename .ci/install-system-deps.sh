#!/usr/bin/env sh
# System packages the sandbox needs: bubblewrap. The default sandbox (isolation="auto") refuses to
# run policy code without it, so CI must have it: this script fails when bubblewrap cannot be
# installed or cannot create namespaces, unless ORCHESTRA_ALLOW_NO_BWRAP=1 (then the sandbox tests
# that need it skip with a reason). Idempotent.
set -u

fail() {
    echo "error: $1" >&2
    if [ "${ORCHESTRA_ALLOW_NO_BWRAP:-0}" = "1" ]; then exit 0; fi
    exit 1
}

check() {  # installed and allowed to build the sandbox's namespaces?
    bwrap --ro-bind / / --unshare-net --unshare-pid --proc /proc --dev /dev true 2>/dev/null \
        || fail "bwrap is installed but cannot create namespaces: allow user namespaces (sysctl user.max_user_namespaces, on Ubuntu 24.04+ an AppArmor profile for bwrap)"
    echo "bubblewrap works: $(bwrap --version 2>/dev/null)"
    exit 0
}

if command -v bwrap >/dev/null 2>&1; then check; fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        fail "not root and no passwordless sudo: install bubblewrap by hand"
    fi
fi

if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null 2>&1 || echo "warning: apt-get update failed; trying the cached index" >&2
    $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1 || fail "apt-get install bubblewrap failed"
elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y -q bubblewrap >/dev/null 2>&1 || fail "dnf install bubblewrap failed"
elif command -v apk >/dev/null 2>&1; then
    $SUDO apk add -q bubblewrap >/dev/null 2>&1 || fail "apk add bubblewrap failed"
else
    fail "no known package manager: install bubblewrap by hand"
fi
command -v bwrap >/dev/null 2>&1 || fail "bubblewrap was installed but bwrap is not on PATH"
check
