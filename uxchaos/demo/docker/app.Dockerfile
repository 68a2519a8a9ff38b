# The demo's app, worker and proxy: uxchaos from the project's wheel in a venv on the mmdebstrap
# base. The services' own dependencies come first (a layer that survives source changes); the
# wheel goes in with --no-deps: Playwright, SciPy, Matplotlib and pgserver are not used in here.
# host-ca.crt is the build host's CA bundle (public certificates), so pip trusts what the host
# trusts (a TLS-intercepting egress proxy, a company mirror); empty when the host has none.
FROM {base}
COPY host-ca.crt /etc/uxchaos-build-ca.crt
RUN if [ -s /etc/uxchaos-build-ca.crt ]; then export PIP_CERT=/etc/uxchaos-build-ca.crt; fi \
 && python3 -m venv /opt/uxchaos \
 && /opt/uxchaos/bin/pip install -q --no-cache-dir --disable-pip-version-check {deps}
COPY {wheel} /tmp/{wheel}
RUN /opt/uxchaos/bin/pip install -q --no-cache-dir --disable-pip-version-check --no-deps /tmp/{wheel} \
 && rm /tmp/{wheel}
ENV PATH=/opt/uxchaos/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1
CMD ["uxchaos", "--help"]
