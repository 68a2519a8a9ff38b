"""A real Laravel 8 login (the demo app in uxchaos/demo/laravel) on MariaDB: how many database turns
it makes, what the fault proxy on the database link costs, and what a per-turn delay does to it.

Two Laravel stacks run side by side, both without their queue worker (its polling would add turns
that are not the login's): one reaches MariaDB through the proxy, one directly. A login is what a
browser's server side sees: GET /login, POST /login, GET /dashboard after the redirect (HTTP, with
the session cookie and CSRF token). Rounds alternate between the two stacks.

    .venv/bin/python benchmarks/laravel_login.py [--rounds 20] [--delay-ms 2000]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request

from timing_overhead import paired_ratio

from uxchaos.demo.laravel_stack import LaravelStack


def login(base_url: str, email: str, password: str, turns: LaravelStack | None = None) -> tuple[float, list[int]]:
    """Seconds for one login, and the database turns of each of its three requests (if counted)."""
    # Redirects not followed, so that the POST and the dashboard it leads to are counted apart.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                         NoRedirect())
    counts: list[int] = []

    def count() -> int:
        return int(turns.hub.describe("database")["round_trips"]) if turns is not None else 0

    started = time.perf_counter()
    mark = count()
    form = opener.open(base_url + "/login", timeout=600).read().decode()
    counts.append(count() - mark)
    found = re.search(r'name="_token" value="([^"]+)"', form)
    assert found, "no CSRF token on the login page"
    data = urllib.parse.urlencode({"_token": found.group(1), "email": email, "password": password}).encode()
    mark = count()
    try:
        location = opener.open(base_url + "/login", data, timeout=600).headers["Location"]
    except urllib.error.HTTPError as e:  # the 302 to /dashboard
        location = e.headers["Location"]
    counts.append(count() - mark)
    mark = count()
    page = opener.open(location, timeout=600).read().decode()
    counts.append(count() - mark)
    elapsed = time.perf_counter() - started
    assert "Welcome" in page, "the login did not reach the dashboard"
    return elapsed, counts


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--delay-ms", type=int, default=2000, help="per-turn database delay for the last measurement")
    args = ap.parse_args()
    proxied, direct = LaravelStack(worker=False), LaravelStack(worker=False, database_proxy=False)
    try:
        a, b = proxied.start(), direct.start()
        for _ in range(3):  # warm both (PHP's opcache, MariaDB's buffer pool)
            login(a.base_url, a.email, a.password)
            login(b.base_url, b.email, b.password)
        through, straight, turn_counts = [], [], []
        for i in range(args.rounds):
            pair = [(a, proxied, through), (b, None, straight)]
            for info, counted, times in (pair if i % 2 == 0 else pair[::-1]):
                seconds, counts = login(info.base_url, info.email, info.password, counted)
                times.append(seconds)
                if counted is not None:
                    turn_counts.append(tuple(counts))
        ratio, low, high = paired_ratio(through, straight)
        print(f"Laravel login (GET /login, POST /login, GET /dashboard), {args.rounds} rounds:")
        print(f"  database direct:        median {statistics.median(straight) * 1000:.1f} ms")
        print(f"  database through proxy: median {statistics.median(through) * 1000:.1f} ms")
        print(f"  paired ratio proxy/direct: {ratio:.3f} (95% CI {low:.3f}–{high:.3f})")
        seen = sorted(set(turn_counts))
        print("  database turns per request (GET /login, POST /login, GET /dashboard): "
              + "; ".join(f"{c} ×{turn_counts.count(c)}" for c in seen))
        proxied.hub.add_toxic("database", {"type": "latency", "attributes": {"latency": f"{args.delay_ms}ms"}})
        slow, counts = login(a.base_url, a.email, a.password, proxied)
        proxied.hub.reset()
        print(f"  with every database turn {args.delay_ms} ms late: {slow:.2f} s for {sum(counts)} turns "
              f"({counts[0]} + {counts[1]} + {counts[2]}); turns × delay = {sum(counts) * args.delay_ms / 1000:.1f} s")
    finally:
        proxied.stop()
        direct.stop()


if __name__ == "__main__":
    main()
