#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL cluster in a local folder and prints its URL.
# Installs PostgreSQL from Debian's packages when the machine has none.
#
#   deploy/dev/postgres.sh start DIR PORT   start the cluster in DIR on 127.0.0.1:PORT
#   deploy/dev/postgres.sh stop DIR         stop it
#
# PostgreSQL refuses to run as root, so as root the cluster runs as the
# "postgres" system user (created by the package).
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop DIR [PORT]}
dir=$(mkdir -p "${2:?data directory}" && cd "$2" && pwd)
port=${3:-55432}

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
}

bin=$(find_bin || true)
if [ -z "$bin" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed; run as root or apt-get install postgresql" >&2
    exit 1
  fi
  echo "installing PostgreSQL from Debian packages..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin=$(find_bin)
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# As root the cluster belongs to the postgres user, who cannot reach into a
# private folder (mktemp -d makes them 0700); the cluster then lives under
# /var/tmp, named after the folder asked for, so start and stop agree.
if [ "$(id -u)" = 0 ] && ! as_pg test -x "$dir"; then
  dir=/var/tmp/homeplane-pg-$(printf %s "$dir" | sha256sum | cut -c1-16)
  mkdir -p "$dir"
fi

case "$cmd" in
start)
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --no-locale >/dev/null
  fi
  if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=200" start >/dev/null
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  ;;
stop)
  if [ -f "$dir/PG_VERSION" ]; then as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true; fi
  ;;
*)
  echo "unknown command $cmd" >&2; exit 2 ;;
esac
