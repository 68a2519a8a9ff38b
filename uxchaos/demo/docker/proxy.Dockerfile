# The fault proxy: the app image, started as `uxchaos proxy serve` (the compose file names the proxies).
FROM {app}
ENTRYPOINT ["uxchaos", "proxy", "serve"]
CMD []
