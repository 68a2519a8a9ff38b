#!/usr/bin/env bash
# What the Laravel demo (`uxchaos demo up --app laravel`, scenarios with target.app: laravel) needs
# beside MariaDB and Redis (scripts/ensure-servers.sh): Debian's PHP 8.2 CLI with pdo_mysql and
# phpredis, and Laravel 8 (php-laravel-framework, installed under /usr/share/php, no Composer).
# Installed only when missing.
set -euo pipefail
missing=()
if command -v php >/dev/null 2>&1; then
  php -r 'exit(stream_resolve_include_path("Illuminate/autoload.php") ? 0 : 1);' || missing+=(php-laravel-framework)
  php -r 'exit(extension_loaded("pdo_mysql") ? 0 : 1);' || missing+=(php-mysql)
  php -r 'exit(extension_loaded("redis") ? 0 : 1);' || missing+=(php-redis)
else
  missing+=(php-cli php-laravel-framework php-mysql php-redis)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing for the Laravel demo: ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2; exit 1
fi
echo "installing ${missing[*]} …"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         "${missing[@]}" >/dev/null; }
php -r 'echo "Laravel demo: PHP ", PHP_VERSION, "\n";'
