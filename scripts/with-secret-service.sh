#!/usr/bin/env bash
# Runs a command with a real Secret Service: a private D-Bus session bus and an unlocked
# gnome-keyring holding only a throwaway login collection (in a temporary home).
#   scripts/with-secret-service.sh COMMAND...        (inside: dbus-run-session)
set -euo pipefail
if [ -z "${SCRY_IN_SECRET_SESSION:-}" ]; then
  exec env SCRY_IN_SECRET_SESSION=1 dbus-run-session -- "$0" "$@"
fi
keyring_home=$(mktemp -d)
trap 'kill "${GNOME_KEYRING_PID:-}" 2>/dev/null || true; rm -rf "$keyring_home"' EXIT
# The daemon keeps its collections under XDG_DATA_HOME; the password unlocks (and creates) the
# login collection without a prompt.
eval "$(printf 'test-password' | XDG_DATA_HOME="$keyring_home" \
  gnome-keyring-daemon --unlock --components=secrets --daemonize)"
export GNOME_KEYRING_CONTROL
export SCRY_TEST_SECRET_SERVICE=1
"$@"
