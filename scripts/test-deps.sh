#!/usr/bin/env bash
# Installs the system tools the tests drive (OpenSSH client and server, the
# software FIDO key from openssh-tests, SoftHSM2 and pkcs11-tool, Chromium, strace) when any is missing.
# As root it installs them with apt-get; otherwise it says what is missing, and
# the tests that need a missing tool skip (or fail when CI=true).
set -euo pipefail
need=()
command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -f /usr/lib/openssh/regress/misc/sk-dummy/sk-dummy.so ] || need+=(openssh-tests)
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || need+=(opensc)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v strace >/dev/null 2>&1 || need+=(strace)
[ ${#need[@]} -eq 0 ] && exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing test packages (install them to run every test): ${need[*]}" >&2
fi
