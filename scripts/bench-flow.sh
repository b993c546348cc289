#!/usr/bin/env bash
# Starts a development broker in a temporary folder on a free loopback port,
# runs `breakglass bench` against it at the given concurrencies, and stops it.
# With --fetch, each flow also fetches its credentials (`bench --fetch`);
# each fetch opens a session, so the broker runs with --rate-limit -1 (one
# address asking for thousands of sessions a minute is what the limit stops).
# Usage: scripts/bench-flow.sh [--fetch] [FLOWS] [CONCURRENCY...]   (defaults: 2000, 1 16)
set -euo pipefail
cd "$(dirname "$0")/.."
fetch=()
if [ "${1:-}" = --fetch ]; then
  fetch=(--fetch)
  shift
fi
flows=${1:-2000}
shift || true
concs=("$@")
[ ${#concs[@]} -gt 0 ] || concs=(1 16)
go build -o bin/breakglass ./cmd/breakglass
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
limit=()
[ ${#fetch[@]} -eq 0 ] || limit=(--rate-limit -1)
./bin/breakglass serve --dev --data "$dir/data" --addr "127.0.0.1:$port" "${limit[@]}" >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$dir/serve.log"; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${concs[@]}"; do
  ./bin/breakglass bench --broker "http://127.0.0.1:$port" --data "$dir/data" --flows "$flows" --concurrency "$c" "${fetch[@]}"
done
