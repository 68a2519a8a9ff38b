#!/usr/bin/env bash
# Make sure the Laravel demo (`uxchaos demo up --app laravel`, scenarios with target.app: laravel) can
# run: Debian's PHP 8.2 CLI with pdo_mysql and phpredis, Laravel 8 (php-laravel-framework, installed
# under /usr/share/php, no Composer), MariaDB and Redis. Installs only what is missing.
set -euo pipefail
missing=()
command -v php >/dev/null 2>&1 || missing+=(php-cli)
if command -v php >/dev/null 2>&1; then
  php -r 'exit(stream_resolve_include_path("Illuminate/autoload.php") ? 0 : 1);' || missing+=(php-laravel-framework)
  php -r 'exit(extension_loaded("pdo_mysql") ? 0 : 1);' || missing+=(php-mysql)
  php -r 'exit(extension_loaded("redis") ? 0 : 1);' || missing+=(php-redis)
else
  missing+=(php-laravel-framework php-mysql php-redis)
fi
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -eq 0 ]; then
  echo "laravel demo: $(php -r 'echo "PHP ", PHP_VERSION;'), $(/usr/sbin/mariadbd --version 2>/dev/null | awk '{print $3}' || true)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing for the Laravel demo: ${missing[*]} (Debian package names); install them" >&2; exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing ${missing[*]} …"
# --no-install-recommends: mariadb-server recommends a mail server and more that the demo does not need.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         --no-install-recommends "${missing[@]}" >/dev/null; }
php -r 'echo "laravel demo: PHP ", PHP_VERSION, "\n";'
