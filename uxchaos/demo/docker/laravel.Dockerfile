# The Laravel stack's server side on the mmdebstrap base, from Debian packages only: PHP 8.2 with
# Laravel 8 (php-laravel-framework, under /usr/share/php), MariaDB and Redis, plus the app shipped in
# uxchaos/demo/laravel in /opt/laravel. One image for the four services (laravel-backend, worker,
# database, redis; laravel-entrypoint.sh picks the role): one apt run instead of three keeps the
# build to about a minute, and a change to the app rebuilds only the last layers.
# policy-rc.d: no package may start its daemon at install time (there is no init in a build).
FROM {base}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      php-cli php-mysql php-redis php-laravel-framework mariadb-server mariadb-client redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql/*
COPY laravel-entrypoint.sh /usr/local/bin/laravel-entrypoint.sh
COPY laravel /opt/laravel
RUN cd /opt/laravel && mkdir -p bootstrap/cache storage/app storage/framework/cache/data \
      storage/framework/sessions storage/framework/views storage/logs \
 && find /opt/laravel -name __pycache__ -prune -exec rm -rf {} + \
 && php -r 'exit(stream_resolve_include_path("Illuminate/autoload.php") && extension_loaded("pdo_mysql") && extension_loaded("redis") ? 0 : 1);'
WORKDIR /opt/laravel
ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/bin/sh", "/usr/local/bin/laravel-entrypoint.sh"]
CMD ["backend"]
