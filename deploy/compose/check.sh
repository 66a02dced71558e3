#!/usr/bin/env bash
# Starts the Compose stack from the locally built images (make images) with
# hasim in place of Home Assistant, and checks it end to end: a user
# registers, enrolls the agent, a sentence turns on a light in the simulated
# home, Prometheus scrapes central and the agent and has loaded the rules,
# and `down -v` leaves no container, volume or network behind. Also checks
# the configuration of the llm profile and of Grafana's provisioning (no
# Ollama or Grafana image can be built here). Run through `make compose-check`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

project=${HOMEPLANE_COMPOSE_PROJECT:-homeplane-check}
export HOMEPLANE_HTTP_PORT=${HOMEPLANE_HTTP_PORT:-28080}
export HOMEPLANE_MQTT_PORT=${HOMEPLANE_MQTT_PORT:-28883}
export HOMEPLANE_HA_PORT=${HOMEPLANE_HA_PORT:-28123}
export HOMEPLANE_PROMETHEUS_PORT=${HOMEPLANE_PROMETHEUS_PORT:-29090}
export HOMEPLANE_GRAFANA_PORT=${HOMEPLANE_GRAFANA_PORT:-23000}
central="http://127.0.0.1:$HOMEPLANE_HTTP_PORT"
prom="http://127.0.0.1:$HOMEPLANE_PROMETHEUS_PORT"

if docker compose version >/dev/null 2>&1; then
  compose_bin=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_bin=(docker-compose)
else
  echo "compose-check: neither 'docker compose' nor docker-compose is installed" >&2
  exit 1
fi
compose() {
  "${compose_bin[@]}" --env-file "$root/deploy/compose/local.env" -p "$project" \
    -f "$root/compose.yaml" -f "$root/deploy/compose/hasim.yaml" "$@"
}
step() { printf 'compose-check: %s\n' "$*"; }
fail() { printf 'compose-check: FAIL: %s\n' "$*" >&2; exit 1; }

# poll DEADLINE_SECONDS WHAT COMMAND...: run COMMAND until it succeeds.
poll() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what (gave up after $1 s)"
    sleep 1
  done
}

step "using ${compose_bin[*]} ($("${compose_bin[@]}" version --short 2>/dev/null || echo '?'))"

# --- configuration only -------------------------------------------------
step "llm profile: configuration"
llm=$("${compose_bin[@]}" --env-file "$root/deploy/compose/llm.env" -p "$project" -f "$root/compose.yaml" config)
grep -q '^  ollama:' <<<"$llm" || fail "the llm profile does not add the ollama service"
grep -q 'HOMEPLANE_LLM_URL: http://ollama:11434' <<<"$llm" || fail "central's llm backend does not point at ollama"
grep -q 'HOMEPLANE_LLM_BACKEND: ollama' <<<"$llm" || fail "central's llm backend is not ollama"
plain=$("${compose_bin[@]}" -p "$project" -f "$root/compose.yaml" config)
sed -n '/^  ollama:/,/^  [a-z]/p' <<<"$plain" | grep -q -- '- llm' || fail "ollama is not in the llm profile alone"
# Central itself accepts the llm settings the profile gives it.
env HOMEPLANE_DATABASE_URL=postgres://x@127.0.0.1/x HOMEPLANE_LLM_BACKEND=ollama \
  HOMEPLANE_LLM_URL=http://ollama:11434 HOMEPLANE_LLM_MODEL=ministral-3b bin/homeplane-central config >/dev/null ||
  fail "central rejects the llm profile's settings"

step "grafana: provisioning"
python3 - "$root/deploy/grafana" <<'PY' || fail "grafana provisioning is inconsistent"
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
dash = json.loads((d / "homeplane-fleet.json").read_text())
assert dash["uid"] == "homeplane-fleet" and dash["panels"], "dashboard has no panels"
ds = (d / "provisioning/datasources/prometheus.yaml").read_text()
assert "type: prometheus" in ds and "http://prometheus:9090" in ds, "datasource does not name prometheus"
prov = (d / "provisioning/dashboards/homeplane.yaml").read_text()
assert "/var/lib/homeplane-dashboards" in prov, "dashboard provider path"
PY
compose config -q

# --- the running stack ----------------------------------------------------
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    compose ps || true
    compose logs --no-color --tail 60 || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$tmp"
  exit $rc
}
tmp=$(mktemp -d)
trap cleanup EXIT
compose down -v --remove-orphans >/dev/null 2>&1 || true

step "up: postgres, central, hasim, prometheus"
compose up -d postgres central homeassistant prometheus
poll 120 "central became ready" curl -fsS "$central/readyz"

export HOMEPLANE_CONFIG_DIR=$tmp/homectl HOMEPLANE_CENTRAL_URL=$central HOMEPLANE_PASSWORD=compose-check-password
step "register, create a home, enroll the agent"
bin/homectl register --email check@homeplane.local >/dev/null
# No mail transport: the confirmation waits in the outbox, as an operator
# would read it (README, "Run with Docker Compose").
confirm=$(compose exec -T postgres psql -U homeplane -d homeplane -Atc \
  "SELECT body FROM notification_outbox WHERE kind = 'confirm_registration' AND email = 'check@homeplane.local' ORDER BY id DESC LIMIT 1" |
  grep -o 'hpc_[A-Za-z0-9_-]*' | head -n 1)
[ -n "$confirm" ] || fail "no confirmation token in the outbox"
bin/homectl register confirm "$confirm" >/dev/null
bin/homectl homes create "Compose Home" >/dev/null
HOMEPLANE_HOME=$(bin/homectl homes --json | sed -n 's/.*"id": *"\([0-9a-f-]\{36\}\)".*/\1/p' | head -n 1)
export HOMEPLANE_HOME
[ -n "$HOMEPLANE_HOME" ] || fail "no home id"
HOMEPLANE_ENROLLMENT_TOKEN=$(bin/homectl enroll-token) compose up -d agent
poll 90 "the home came online" sh -c 'bin/homectl homes --json | grep -q "\"online\": *true"'

step "a sentence turns on a light"
say_ok() { bin/homectl say "turn on the kitchen lights" | tee "$tmp/say" | grep -q "Turned on"; }
poll 60 "the kitchen lights turned on (last answer: $(cat "$tmp/say" 2>/dev/null))" say_ok
ha_token=$(tr -d '\n' < deploy/secrets/ha_token.txt)
curl -fsS -H "Authorization: Bearer $ha_token" "http://127.0.0.1:$HOMEPLANE_HA_PORT/api/states/light.kitchen_ceiling" |
  grep -q '"state": *"on"' || fail "hasim does not show light.kitchen_ceiling on"

step "prometheus scrapes central and the agent, with the rules loaded"
up_is_one() { curl -fsS "$prom/api/v1/query" --data-urlencode "query=up{job=\"$1\"} == 1" | grep -q '"value"'; }
poll 90 "prometheus scraped homeplane-central" up_is_one homeplane-central
poll 90 "prometheus scraped homeplane-agent" up_is_one homeplane-agent
curl -fsS "$prom/api/v1/rules" | grep -q HomeplaneAuditCommitsFailing || fail "prometheus has not loaded homeplane-rules.yml"

step "down -v leaves nothing"
compose down -v --remove-orphans
left=$(docker ps -aq --filter "label=com.docker.compose.project=$project"; docker volume ls -q --filter "label=com.docker.compose.project=$project"; docker network ls -q --filter "label=com.docker.compose.project=$project")
[ -z "$left" ] || fail "left behind: $left"
trap - EXIT
rm -rf "$tmp"
step "ok"
