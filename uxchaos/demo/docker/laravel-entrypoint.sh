#!/bin/sh
# One role per service of the Laravel stack (stack-laravel.yml): database | redis | backend | worker.
# Every service uses host networking and listens on 127.0.0.1 only; ports come from the environment.
set -eu
role=${1:-backend}

# The tables exist once the backend's migrations ran (the worker waits for them: queue:work on a
# database without its `jobs` table would exit and be restarted by Swarm in a loop).
tables_ready() {
  mariadb --no-defaults -h127.0.0.1 -P"$DB_PORT" -u"$DB_USERNAME" "$DB_DATABASE" \
    -e 'SELECT 1 FROM jobs LIMIT 0' >/dev/null 2>&1
}

case "$role" in
database)
  # MariaDB in the stack's volume, initialised on first start the way `uxchaos demo up --app laravel`
  # does it (root without a password, reached over TCP on 127.0.0.1; a demo, not a production set-up).
  data=/var/lib/uxchaos-mariadb
  mkdir -p "$data"
  if [ ! -d "$data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$data" --user=mysql --auth-root-authentication-method=normal \
      --skip-test-db --innodb-log-file-size=8M --skip-name-resolve >/dev/null
  fi
  chown -R mysql:mysql "$data"
  printf 'CREATE DATABASE IF NOT EXISTS `%s`;\n' "$DB_DATABASE" > /tmp/init.sql
  exec mariadbd --no-defaults --user=mysql --datadir="$data" --port="$DB_SERVER_PORT" --bind-address=127.0.0.1 \
    --socket=/tmp/mariadb.sock --pid-file=/tmp/mariadb.pid --init-file=/tmp/init.sql \
    --innodb-log-file-size=8M --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=0 \
    --skip-name-resolve --skip-log-bin
  ;;
redis)
  # A cache, as Laravel uses it here: nothing is saved to disk.
  exec redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --protected-mode yes
  ;;
backend)
  # Migrations at deploy, by the backend before it serves (the report's problem 3 was a missing
  # sessions table). Retried until the database (through the proxy service) answers.
  tries=0
  until php artisan migrate --force --seed --no-interaction; do
    tries=$((tries + 1))
    [ "$tries" -lt 90 ] || { echo "migrations failed for 90 s" >&2; exit 1; }
    sleep 1
  done
  # PHP's built-in server with several workers, as `uxchaos demo up --app laravel` runs it (see
  # uxchaos/demo/laravel_stack.py for why not php-fpm). It ignores SIGTERM as PID 1 and does not
  # pass it on to its workers, so this shell stays PID 1 and stops them all.
  PHP_CLI_SERVER_WORKERS=${PHP_CLI_SERVER_WORKERS:-4} php -S "127.0.0.1:$APP_PORT" -t public server.php &
  trap 'trap - TERM INT; kill -TERM 0 2>/dev/null; exit 0' TERM INT
  wait $!
  ;;
worker)
  until tables_ready; do sleep 1; done
  exec php artisan queue:work --sleep=1 --tries=3
  ;;
*)
  echo "unknown role $role (database, redis, backend, worker)" >&2
  exit 2
  ;;
esac
