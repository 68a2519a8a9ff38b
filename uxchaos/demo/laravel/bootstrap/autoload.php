<?php

/*
 * Departure from stock: a stock app requires Composer's vendor/autoload.php. Debian's
 * php-laravel-framework installs the framework and its dependencies under /usr/share/php (on PHP's
 * include_path), each with its own autoload.php, and one file that loads them all:
 * Illuminate/autoload.php. The app's own namespaces (what composer.json's "autoload" psr-4 section
 * maps in a stock app) are registered here, by the same rule.
 */

require_once 'Illuminate/autoload.php';

spl_autoload_register(function (string $class): void {
    $base = dirname(__DIR__);
    $prefixes = [
        'App\\' => $base.'/app/',
        'Database\\Factories\\' => $base.'/database/factories/',
        'Database\\Seeders\\' => $base.'/database/seeders/',
    ];
    foreach ($prefixes as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $dir.str_replace('\\', '/', substr($class, strlen($prefix))).'.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});
