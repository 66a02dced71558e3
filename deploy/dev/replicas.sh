#!/usr/bin/env bash
# Runs Debian's Mosquitto with the Homeplane plugin and two central replicas
# (a, b) in external mode on one database, for homeplane-load's replica-kill
# and steady runs (docs/benchmarks.md, "Replica kill (issue 17)").
#
#   deploy/dev/replicas.sh start DIR DATABASE_URL   build into DIR, start; pids in DIR/*.pid
#   deploy/dev/replicas.sh stop DIR                 stop what DIR's pids name
#
# Ports on 127.0.0.1: Mosquitto 18460, the authentication contract 18461,
# replica a's API 18462 and metrics 18463, replica b's 18464 and 18465.
# Accounts are confirmed without mail and 127.0.0.0/8 is a trusted proxy:
# for load runs only.
set -euo pipefail

cmd=${1:?usage: replicas.sh start|stop DIR [DATABASE_URL]}
dir=$(mkdir -p "${2:?directory}" && cd "$2" && pwd)

if [ "$cmd" = stop ]; then
  for p in a b mosquitto; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
    rm -f "$dir/$p.pid"
  done
  exit 0
fi
db=${3:?database URL}
root=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$root" && go build -o "$dir/" ./central/cmd/homeplane-central ./central/cmd/homeplane-load &&
  make --no-print-directory mosquitto-plugin MOSQUITTO_PLUGIN_OUT="$dir/homeplane_auth.so" >/dev/null)
head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/token"
head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/password"
cat > "$dir/mosquitto.conf" <<EOF
per_listener_settings false
user $(id -un)
listener 18460 127.0.0.1
allow_anonymous false
persistence false
max_packet_size 1048576
# As deploy/mosquitto/mosquitto.conf: room for a whole fleet connecting at once.
max_queued_messages 100000
plugin $dir/homeplane_auth.so
plugin_opt_url http://127.0.0.1:18461/mqtt/v1/authn
plugin_opt_token_file $dir/token
plugin_opt_timeout_ms 2000
plugin_opt_cache_seconds 5
log_dest stderr
log_type error
log_type warning
EOF
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto" -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
echo $! > "$dir/mosquitto.pid"

export HOMEPLANE_MQTT_PASSWORD_FILE=$dir/password HOMEPLANE_MQTT_AUTH_TOKEN_FILE=$dir/token
common=(--database-url "$db" --mqtt-mode external --mqtt-broker-url tcp://127.0.0.1:18460
  --auto-confirm-registrations --trusted-proxies 127.0.0.0/8
  --device-burst 100000 --device-rate 100000 --user-burst 100000 --user-rate 100000)
"$dir/homeplane-central" --http-addr 127.0.0.1:18462 --metrics-addr 127.0.0.1:18463 --replica-id a \
  --mqtt-auth-addr 127.0.0.1:18461 "${common[@]}" > "$dir/a.log" 2>&1 &
echo $! > "$dir/a.pid"
sleep 3 # a migrates the database first
"$dir/homeplane-central" --http-addr 127.0.0.1:18464 --metrics-addr 127.0.0.1:18465 --replica-id b \
  --mqtt-auth-addr 127.0.0.1:18466 "${common[@]}" > "$dir/b.log" 2>&1 &
echo $! > "$dir/b.pid"
for port in 18462 18464; do
  for _ in $(seq 60); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 1
  done
done
echo "replicas a (http://127.0.0.1:18462) and b (http://127.0.0.1:18464) on mosquitto 127.0.0.1:18460"
