#!/usr/bin/env bash
# Starts the Compose stack from the locally built images (make images) with
# hasim in place of Home Assistant, and checks it end to end: a user
# registers, enrolls the agent, a sentence turns on a light in the simulated
# home, Prometheus scrapes central and the agent and has loaded the rules,
# then the same home moves to the "replicas" profile: two centrals in
# external MQTT mode on Mosquitto with the Homeplane plugin, an agent
# connected through the broker, a sentence sent to either replica; and
# `down -v` leaves no container, volume or network behind. Also checks
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
export HOMEPLANE_BROKER_PORT=${HOMEPLANE_BROKER_PORT:-28884}
export HOMEPLANE_REPLICA_A_PORT=${HOMEPLANE_REPLICA_A_PORT:-28081}
export HOMEPLANE_REPLICA_B_PORT=${HOMEPLANE_REPLICA_B_PORT:-28082}
central="http://127.0.0.1:$HOMEPLANE_HTTP_PORT"
replica_a="http://127.0.0.1:$HOMEPLANE_REPLICA_A_PORT"
replica_b="http://127.0.0.1:$HOMEPLANE_REPLICA_B_PORT"
prom="http://127.0.0.1:$HOMEPLANE_PROMETHEUS_PORT"

if docker compose version >/dev/null 2>&1; then
  compose_bin=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_bin=(docker-compose)
else
  echo "compose-check: neither 'docker compose' nor docker-compose is installed" >&2
  exit 1
fi
# The replicas profile is on throughout, so that down removes its services
# too; every up names the services it starts.
compose() {
  "${compose_bin[@]}" --env-file "$root/deploy/compose/local.env" -p "$project" \
    -f "$root/compose.yaml" -f "$root/deploy/compose/hasim.yaml" --profile replicas "$@"
}
step() { printf 'compose-check: %s\n' "$*"; }
fail() { printf 'compose-check: FAIL: %s\n' "$*" >&2; exit 1; }

# poll DEADLINE_SECONDS WHAT COMMAND...: run COMMAND until it succeeds.
poll() {
  local within=$1 what=$2
  local deadline=$((SECONDS + within))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what (gave up after $within s)"
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
step "replicas profile: configuration"
replicas=$(compose config)
for svc in mosquitto central-a central-b agent-replicas; do
  grep -q "^  $svc:" <<<"$replicas" || fail "the replicas profile lacks $svc"
done
sed -n '/^  central-a:/,/^  [a-z]/p' <<<"$plain" | grep -q -- '- replicas' || fail "central-a is not in the replicas profile alone"
# Central accepts the replicas' settings (the files stand in for the secrets).
out=$(env HOMEPLANE_DATABASE_URL=postgres://x@127.0.0.1/x HOMEPLANE_MQTT_MODE=external \
  HOMEPLANE_MQTT_BROKER_URL=tcp://mosquitto:1883 HOMEPLANE_REPLICA_ID=a HOMEPLANE_MQTT_AUTH_ADDR=0.0.0.0:8883 \
  HOMEPLANE_MQTT_PASSWORD_FILE=deploy/secrets/mqtt_password.txt HOMEPLANE_MQTT_AUTH_TOKEN_FILE=deploy/secrets/mqtt_auth_token.txt \
  bin/homeplane-central config 2>&1 >/dev/null) || fail "central rejects the replicas' settings: $out"

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
light() {
  curl -fsS -H "Authorization: Bearer $ha_token" "http://127.0.0.1:$HOMEPLANE_HA_PORT/api/states/light.kitchen_ceiling" |
    grep -q "\"state\": *\"$1\""
}
light on || fail "hasim does not show light.kitchen_ceiling on"

step "prometheus scrapes central and the agent, with the rules loaded"
up_is_one() { curl -fsS "$prom/api/v1/query" --data-urlencode "query=up{job=\"$1\"} == 1" | grep -q '"value"'; }
poll 90 "prometheus scraped homeplane-central" up_is_one homeplane-central
poll 90 "prometheus scraped homeplane-agent" up_is_one homeplane-agent
curl -fsS "$prom/api/v1/rules" | grep -q HomeplaneAuditCommitsFailing || fail "prometheus has not loaded homeplane-rules.yml"

step "replicas: the home moves to two centrals on Mosquitto"
compose rm -fsv central agent >/dev/null 2>&1
compose up -d mosquitto central-a central-b
poll 120 "central-a became ready" curl -fsS "$replica_a/readyz"
poll 120 "central-b became ready" curl -fsS "$replica_b/readyz"
# homectl keeps one central per config directory: one for each replica.
at() { # at URL homectl-args...: homectl logged in at that replica
  local url=$1
  shift
  HOMEPLANE_CENTRAL_URL=$url HOMEPLANE_CONFIG_DIR="$tmp/homectl-${url##*:}" bin/homectl "$@"
}
for r in "$replica_a" "$replica_b"; do
  at "$r" login --email check@homeplane.local >/dev/null || fail "cannot log in at $r"
done
# A new agent for the home (enrolling again revokes the old one's
# credentials), enrolled through central-a, connected to the broker.
token=$(at "$replica_a" enroll-token) || fail "no enrollment token from central-a"
HOMEPLANE_ENROLLMENT_TOKEN=$token compose up -d agent-replicas
online_at() { at "$1" homes --json | grep -q '"online": *true'; }
for r in "$replica_a" "$replica_b"; do
  poll 90 "the home came online at $r" online_at "$r"
done
# Central's four connections and the agent's, all admitted by the plugin.
compose logs --no-color mosquitto | grep 'New client connected' | grep -qv "as central-" ||
  fail "no agent connected to mosquitto"
say_at() { # say_at URL SENTENCE EXPECT
  at "$1" say "$2" | tee "$tmp/say" | grep -q "$3"
}
step "replicas: a sentence through central-b, then one through central-a"
poll 60 "central-b turned the lights off (last answer: $(cat "$tmp/say" 2>/dev/null))" say_at "$replica_b" "turn off the kitchen lights" "Turned off"
light off || fail "hasim does not show light.kitchen_ceiling off after central-b"
poll 60 "central-a turned the lights on (last answer: $(cat "$tmp/say" 2>/dev/null))" say_at "$replica_a" "turn on the kitchen lights" "Turned on"
light on || fail "hasim does not show light.kitchen_ceiling on after central-a"

step "down -v leaves nothing"
compose down -v --remove-orphans
left=$(docker ps -aq --filter "label=com.docker.compose.project=$project"; docker volume ls -q --filter "label=com.docker.compose.project=$project"; docker network ls -q --filter "label=com.docker.compose.project=$project")
[ -z "$left" ] || fail "left behind: $left"
trap - EXIT
rm -rf "$tmp"
step "ok"
