# Browsers for the stack: Debian's Chromium and the same Playwright version as the uxchaos that
# builds it (a Playwright client and server must match; its Node driver needs libatomic1), serving
# `uxchaos browser serve`. Built on the base, not on the app image: a source change then
# reinstalls only the wheel, not Chromium.
FROM {base}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation libatomic1 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY host-ca.crt /etc/uxchaos-build-ca.crt
RUN if [ -s /etc/uxchaos-build-ca.crt ]; then export PIP_CERT=/etc/uxchaos-build-ca.crt; fi \
 && python3 -m venv /opt/uxchaos \
 && /opt/uxchaos/bin/pip install -q --no-cache-dir --disable-pip-version-check {deps} 'playwright=={playwright}'
COPY {wheel} /tmp/{wheel}
RUN /opt/uxchaos/bin/pip install -q --no-cache-dir --disable-pip-version-check --no-deps /tmp/{wheel} \
 && rm /tmp/{wheel}
ENV PATH=/opt/uxchaos/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 UXCHAOS_BROWSER=/usr/bin/chromium
ENTRYPOINT ["uxchaos", "browser", "serve"]
CMD []
