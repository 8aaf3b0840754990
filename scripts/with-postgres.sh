#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on 127.0.0.1 and HOMELAB_TEST_PG_URL set.
# Used by `make test` so the state store's tests run against both backends. If HOMELAB_TEST_PG_URL
# is already set, the command runs as is. If PostgreSQL is not installed, it is installed from
# Debian's packages when we are root; otherwise the PostgreSQL tests are skipped (failed under CI).
set -euo pipefail

if [ -n "${HOMELAB_TEST_PG_URL:-}" ]; then exec "$@"; fi

find_bin() {
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

PGBIN=$(find_bin || true)
if [ -z "$PGBIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "with-postgres: installing PostgreSQL from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
    || echo "with-postgres: could not install PostgreSQL" >&2
  PGBIN=$(find_bin || true)
fi
if [ -z "$PGBIN" ]; then
  echo "with-postgres: no PostgreSQL here; its tests will be skipped" >&2
  exec "$@"
fi

RUN=()
if [ "$(id -u)" = 0 ]; then RUN=(runuser -u postgres --); fi
DATA=$(mktemp -d /tmp/homelab-pg.XXXXXX)
chmod 755 "$DATA"
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${RUN[@]}" "$PGBIN/pg_ctl" -D "$DATA/db" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

"${RUN[@]}" "$PGBIN/initdb" -D "$DATA/db" -U postgres --auth=trust -E UTF8 >/dev/null
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$DATA/db" -w -l "$DATA/log" \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off" start >/dev/null
export HOMELAB_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
"$@"
