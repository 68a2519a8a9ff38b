"""The bundled demo target: a Laravel-like app, a PostgreSQL database behind the fault proxy,
and a supervised queue worker. See stack.py for the wiring."""
