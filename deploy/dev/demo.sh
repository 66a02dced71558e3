#!/usr/bin/env bash
# Runs the whole system on this machine: a private PostgreSQL cluster (unless
# HOMEPLANE_DATABASE_URL names one), central with its embedded broker, the Home
# Assistant simulator with the demo home, and an agent enrolled through the real
# enrollment flow. Creates a demo user, home and voice device, prints what to
# try, and stops everything on Ctrl-C. Run through `make demo`.
#
# Addresses and ports (when one is taken, say which variable moves it):
#   HOMEPLANE_DEMO_HTTP_ADDR  central's API and dashboard (127.0.0.1:8080)
#   HOMEPLANE_DEMO_MQTT_ADDR  central's MQTT broker      (127.0.0.1:1883)
#   HOMEPLANE_DEMO_HA_ADDR    the simulated Home Assistant (127.0.0.1:8123)
#   HOMEPLANE_DEMO_METRICS_ADDR  central's /metrics      (127.0.0.1:9090)
#   HOMEPLANE_DEMO_PG_PORT    the private PostgreSQL     (55433)
# HOMEPLANE_DEMO_ADMIN=1 makes the demo user an admin (the dashboard needs one).
set -euo pipefail
cd "$(dirname "$0")/../.."

run=.run/demo
bin=bin
http_addr=${HOMEPLANE_DEMO_HTTP_ADDR:-127.0.0.1:8080}
mqtt_addr=${HOMEPLANE_DEMO_MQTT_ADDR:-127.0.0.1:1883}
metrics_addr=${HOMEPLANE_DEMO_METRICS_ADDR:-127.0.0.1:9090}
ha_addr=${HOMEPLANE_DEMO_HA_ADDR:-127.0.0.1:8123}
pg_port=${HOMEPLANE_DEMO_PG_PORT:-55433}
email=${HOMEPLANE_DEMO_EMAIL:-demo@homeplane.local}
export HOMEPLANE_PASSWORD=${HOMEPLANE_DEMO_PASSWORD:-demo-password}
export HOMEPLANE_CENTRAL_URL="http://$http_addr"
mkdir -p "$run"

# A taken port fails at once, naming the variable that moves it.
port_taken() { # HOST:PORT
  timeout 1 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null
}
check_port() { # HOST:PORT VARIABLE
  if port_taken "$1"; then
    echo "make demo: $1 is taken by another program; choose another address with $2, for example" >&2
    echo "  $2=${1%:*}:$(( ${1##*:} + 1000 )) make demo" >&2
    exit 1
  fi
}
check_port "$http_addr" HOMEPLANE_DEMO_HTTP_ADDR
check_port "$mqtt_addr" HOMEPLANE_DEMO_MQTT_ADDR
check_port "$ha_addr" HOMEPLANE_DEMO_HA_ADDR
check_port "$metrics_addr" HOMEPLANE_DEMO_METRICS_ADDR
if [ -z "${HOMEPLANE_DATABASE_URL:-}" ] && [ ! -f "$run/pg/postmaster.pid" ] && port_taken "127.0.0.1:$pg_port"; then
  echo "make demo: 127.0.0.1:$pg_port (PostgreSQL) is taken by another program; choose another port with" >&2
  echo "  HOMEPLANE_DEMO_PG_PORT=$((pg_port + 1)) make demo" >&2
  exit 1
fi

pids=()
names=()
private_pg=""
stop_all() {
  # Keep stopping even if the terminal or a pipe reading our output is gone.
  set +e
  trap '' PIPE INT TERM
  trap - EXIT
  echo
  echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$private_pg" ]; then deploy/dev/postgres.sh stop "$private_pg"; fi
  echo "stopped; logs are in $run/"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start NAME LOG COMMAND...: run COMMAND in its own session, so that Ctrl-C
# reaches only this script, which then stops everything in order.
start() {
  local name=$1 log=$2
  shift 2
  setsid "$@" > "$log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

wait_http() { # URL what
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "$2 exited during start; see $run/" >&2
      tail -n 5 "$run/$2.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "$2 did not come up; see $run/" >&2
  exit 1
}

db=${HOMEPLANE_DATABASE_URL:-}
if [ -z "$db" ]; then
  private_pg="$run/pg"
  db=$(deploy/dev/postgres.sh start "$private_pg" "$pg_port")
fi

# The Home Assistant token stays on the "home server": here, a file in .run.
if [ ! -s "$run/ha-token" ]; then (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$run/ha-token"); fi
ha_token=$(cat "$run/ha-token")

start hasim "$run/hasim.log" "$bin/hasim" --addr "$ha_addr" --token "$ha_token"
# --auto-confirm-registrations: the demo account works without the
# confirmation mail. Development only: it tells registered addresses from
# free ones (ADR 0027).
start central "$run/central.log" "$bin/homeplane-central" --http-addr "$http_addr" --mqtt-addr "$mqtt_addr" --metrics-addr "$metrics_addr" --database-url "$db" \
  --auto-confirm-registrations
wait_http "http://$http_addr/readyz" central

# The demo account: registered the first time, logged in after that. homectl
# keeps its tokens in the user's config directory, so bin/homectl works from
# any terminal afterwards.
if ! "$bin/homectl" login --email "$email" >/dev/null 2>&1; then
  "$bin/homectl" register --email "$email" >/dev/null
  "$bin/homectl" login --email "$email" >/dev/null
fi
home_id=$("$bin/homectl" homes --json | sed -n 's/.*"id": *"\([0-9a-f-]\{36\}\)".*/\1/p' | head -n 1)
if [ -z "$home_id" ]; then
  "$bin/homectl" homes create "Demo Home" >/dev/null
  home_id=$("$bin/homectl" homes --json | sed -n 's/.*"id": *"\([0-9a-f-]\{36\}\)".*/\1/p' | head -n 1)
fi
export HOMEPLANE_HOME=$home_id

promote=("$bin/homeplane-central" users promote "$email" --database-url "$db")
if [ "${HOMEPLANE_DEMO_ADMIN:-}" = 1 ]; then
  "${promote[@]}" >/dev/null 2>&1
  "$bin/homectl" login --email "$email" >/dev/null # promotion ends sessions
fi

agent_args=(--central-url "http://$http_addr" --mqtt-url "tcp://$mqtt_addr" --state-dir "$run/agent"
  --ha-url "http://$ha_addr" --ha-token-file "$run/ha-token")
if [ ! -s "$run/agent/identity.json" ]; then
  (umask 077; "$bin/homectl" enroll-token 2>/dev/null > "$run/enrollment-token")
  agent_args+=(--enrollment-token-file "$run/enrollment-token")
fi
start agent "$run/agent.log" "$bin/homeplane-agent" "${agent_args[@]}"

if [ ! -s "$run/device-token" ]; then
  (umask 077; "$bin/homectl" devices add --name "Kitchen satellite" --area Kitchen 2>/dev/null > "$run/device-token")
fi

for _ in $(seq 1 150); do
  if "$bin/homectl" homes --json | grep -q '"online": *true'; then break; fi
  sleep 0.2
done

# The commands below need central's address in any other terminal, unless
# it is homectl's default.
url_line=""
if [ "$HOMEPLANE_CENTRAL_URL" != "http://127.0.0.1:8080" ]; then
  url_line="  export HOMEPLANE_CENTRAL_URL=$HOMEPLANE_CENTRAL_URL
"
fi
if [ "${HOMEPLANE_DEMO_ADMIN:-}" = 1 ]; then
  admin_line="$email is an admin: the dashboard and 'bin/homectl admin' are open to it."
else
  admin_line="The dashboard needs an admin. Make $email one (then log in again), or start with
HOMEPLANE_DEMO_ADMIN=1 make demo:

  $(printf '%q ' "${promote[@]}")
  bin/homectl login --email $email"
fi

cat <<MSG

Homeplane is running:
  dashboard      http://$http_addr/admin/
  central        http://$http_addr  (MQTT broker on $mqtt_addr, metrics at http://$metrics_addr/metrics)
  database       $db
  Home Assistant http://$ha_addr   (simulated demo home)
  agent          enrolled for "Demo Home" ($home_id)
  logs           $run/*.log

Logged in as $email (password: $HOMEPLANE_PASSWORD). In another terminal try:

${url_line}  bin/homectl say "turn on the kitchen lights"
  bin/homectl entities
  bin/homectl say "is the front door locked"
  bin/homectl say --device-token \$(cat $run/device-token) "turn off the lights in here"

Or as a voice device would, with nothing but HTTP:

  curl -sS -H 'Content-Type: application/json' -H "Authorization: Bearer \$(cat $run/device-token)" \\
    -d '{"text":"turn on the kitchen lights"}' http://$http_addr/homeplane.v1.IntentService/Process

$admin_line

Press Ctrl-C to stop.
MSG

# Ctrl-C reaches only this script (the others run in their own sessions), so
# wait returns here only when one of them really ended.
wait -n "${pids[@]}" || true
for i in "${!pids[@]}"; do
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    echo "${names[$i]} exited; see $run/${names[$i]}.log" >&2
  fi
done
