"""What a recorded URL may keep: secrets out, identifiers in.

Request and page URLs are stored in results.jsonl and shown in reports, so before they are stored:
- a password in the URL's userinfo (`http://bob:***@host`) is replaced by `***`;
- a query value is replaced by `***` when its *name* says it is a secret (pass, pwd, secret,
  token, key, auth, session, sig, credential, jwt, bearer, otp, code, nonce — also inside a longer
  name such as `api_key` or `X-Amz-Signature`), whatever the value: a session id that happens to be a
  UUID is still a session;
- under any other name, a value that *looks* like a secret (16 characters or more, no spaces,
  letters and digits mixed: an API key, a signed token) is replaced too — unless it is plainly an
  identifier: a UUID (8-4-4-4-12 hex digits) or a number. Those name a record (`?order=123e4567-…`,
  `?page=12`) and are what a reader needs to tell two requests apart; they grant nothing by
  themselves;
- the fragment (never sent to a server) is dropped.
Paths are kept as they are (`GET /orders/{id}` is collapsed for matching, not for secrecy); names
given under `secrets:` in a scenario are masked everywhere by the results store, not here.
Pure functions: no Playwright."""

from __future__ import annotations

import re
import urllib.parse

# "auth" but not "author", "key" but not "keyword"/"keyboard"
SECRET_NAME = re.compile(r"pass|pwd|secret|token|key(?!word|board)|auth(?!or)|session|sess|sig|credential|jwt|"
                         r"bearer|otp|code|nonce", re.IGNORECASE)
_UUID = re.compile(r"^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?\d+$")


def plainly_identifier(value: str) -> bool:
    """A UUID or a whole number: names a record, grants nothing."""
    return bool(_UUID.match(value) or _NUMBER.match(value))


def looks_secret(value: str) -> bool:
    """A long unbroken mix of letters and digits (an API key, a signed token) that is not plainly an id."""
    return (len(value) >= 16 and " " not in value and bool(re.search(r"[A-Za-z]", value))
            and bool(re.search(r"\d", value)) and not plainly_identifier(value))


def masked_value(name: str, value: str) -> str:
    if value and (SECRET_NAME.search(name) or looks_secret(value)):
        return "***"
    return value


def mask_url(url: str) -> str:
    """The URL with userinfo passwords and secret query values replaced by *** (see the module's
    docstring for what counts); the fragment is dropped."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = urllib.parse.urlencode([(k, masked_value(k, v)) for k, v in pairs], safe="*/:")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))
