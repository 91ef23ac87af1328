#!/usr/bin/env bash
# Re-record every cassette of the example suite against the scripted model (no network, no key).
#
# Starts `harness model serve` on 127.0.0.1:$PORT (the model and the fake pharmacy API of
# scenarios/model/script.json), waits until it answers, records with `--record-mode all`
# (cassettes replaced by exactly this run's calls), then stops the server it started.
# Usage: scenarios/record.sh [extra `harness run` arguments, e.g. a single scenario path]
set -euo pipefail

cd "$(dirname "$0")/.."
PORT="${PORT:-8765}"          # the refill workflows' pharmacy_api points at this port
HARNESS="${HARNESS:-harness}"
SCRIPT=scenarios/model/script.json
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(scenarios/)

"$HARNESS" model serve --script "$SCRIPT" --port "$PORT" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "record.sh: the scripted model did not start" >&2; exit 2; fi
  sleep 0.1
done

OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" OPENAI_API_KEY=sk-scripted \
  "$HARNESS" run "${TARGETS[@]}" --record-mode all
