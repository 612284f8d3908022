"""The pages' security layer: CSRF tokens, sessions, headers, cookies and rate limits;
unit tests of :mod:`afterword.web.security` and plain HTTP against the real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from afterword.web.security import CSP, Limit, RateLimiter, Security
from tests.browser.conftest import PASSWORD, Site, csrf_of

SECRET = b"k" * 32


def request(cookies: dict[str, str] | None = None, client: str = "192.0.2.1") -> Request:
    cookie = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
    headers = [(b"cookie", cookie.encode())] if cookie else []
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    scope["client"] = (client, 1234)
    return Request(scope)


# --- unit ------------------------------------------------------------------------------


def test_csrf_token_is_bound_to_the_browsers_cookie_and_the_server_secret() -> None:
    sec = Security(SECRET, secure=False)
    token, cookie = sec.csrf(request())
    assert cookie is not None  # a browser without the cookie gets one
    browser = request({sec.csrf_cookie: cookie})
    assert sec.csrf(browser) == (token, None)  # and keeps it
    assert sec.csrf_ok(browser, token)
    assert not sec.csrf_ok(browser, None)
    assert not sec.csrf_ok(browser, "")
    assert not sec.csrf_ok(browser, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not sec.csrf_ok(request(), token)  # the token alone, without its cookie
    assert not sec.csrf_ok(request({sec.csrf_cookie: "f" * 32}), token)  # another cookie
    assert not Security(b"x" * 32, secure=False).csrf_ok(browser, token)  # another server


def test_sessions_are_sealed_expire_and_hide_whether_duress_opened_them() -> None:
    now = [1_000_000.0]
    sec = Security(SECRET, secure=False, wall_clock=lambda: now[0])
    # long enough that random ciphertext never spells it by chance ("abc" did, once in
    # about 1,700 runs: the sealed token is ~80 characters of the same alphabet)
    switch = "the-owners-switch-0123456789"
    real, duress = sec.new_session(switch, False), sec.new_session(switch, True)
    assert len(real) == len(duress)
    assert switch not in real and switch not in duress
    assert sec.session(request({sec.session_cookie: real})) == (switch, False)
    assert sec.session(request({sec.session_cookie: duress})) == (switch, True)
    tampered = real[:20] + ("A" if real[20] != "A" else "B") + real[21:]
    assert sec.session(request({sec.session_cookie: tampered})) is None
    assert sec.session(request({sec.session_cookie: "garbage"})) is None
    assert sec.session(request()) is None
    other = Security(b"x" * 32, secure=False, wall_clock=lambda: now[0])
    assert other.session(request({other.session_cookie: real})) is None
    now[0] += 3601
    assert sec.session(request({sec.session_cookie: real})) is None


def test_cookies_are_httponly_strict_and_secure_behind_https() -> None:
    for secure in (False, True):
        sec = Security(SECRET, secure=secure)
        response = Response()
        sec.set_cookie(response, sec.session_cookie, "v", 60)
        header = response.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
        assert ("Secure" in header) is secure
        assert header.startswith("__Host-") is secure


def test_rate_limiter_counts_a_sliding_window_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0], max_keys=4)
    limit = Limit(3, 60, "tries")
    assert [limiter.hit(limit, ("a",)) for _ in range(3)] == [None, None, None]
    assert limiter.hit(limit, ("a",)) == 60
    assert limiter.hit(limit, ("b",)) is None  # another address or switch is its own count
    now[0] = 30
    assert limiter.hit(limit, ("a",)) == 30
    now[0] = 61
    assert limiter.hit(limit, ("a",)) is None
    for key in "cdefgh":  # bounded memory: old keys are forgotten, not kept forever
        limiter.hit(limit, (key,))
    assert len(limiter._hits) <= 4


def test_too_many_attempts_say_how_long_to_wait() -> None:
    sec = Security(SECRET, secure=False)
    limit = Limit(1, 900, "sign-in attempts")
    assert sec.limit(limit, request(), "s1") is None
    said = sec.limit(limit, request(), "s1")
    assert said == (
        "Too many sign-in attempts for this switch from your address. "
        "Wait 15 minutes, then try again."
    )
    assert sec.limit(limit, request(client="192.0.2.2"), "s1") is None
    assert sec.limit(limit, request(), "s2") is None


# --- over HTTP, against the real server ---------------------------------------------------


@contextmanager
def signed_in(site: Site) -> Iterator[tuple[httpx.Client, str]]:
    """A client signed in to the site's switch, and the CSRF token of its forms."""
    with site.http() as http:
        token = csrf_of(http.get("/login").text)
        data = {"csrf": token, "switch": site.switch, "password": PASSWORD}
        response = http.post("/login", data=data)
        assert response.status_code == 303, response.text
        yield http, token


def test_every_response_carries_the_strict_csp(site: Site) -> None:
    with site.http() as http:
        responses = [
            http.get(path)
            for path in (
                "/",
                "/verify",
                "/login",
                f"/s/{site.switch}",
                f"/canary/{'0' * 32}",  # a link that is not valid
                f"/r/{site.switch}",  # the page that says it is not released
                f"/owner/{site.switch}",  # redirect to the sign-in page
                "/nothing-here",
                "/static/style.css",
                "/.well-known/afterword",
            )
        ]
        responses.append(http.post("/login", data={"switch": site.switch}))
    for response in responses:
        assert response.headers["content-security-policy"] == CSP, response.url
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
    html = [r for r in responses if r.headers.get("content-type", "").startswith("text/html")]
    assert len(html) >= 6
    for response in html:  # no script, no inline style, nothing from elsewhere
        assert "<script" not in response.text and "style=" not in response.text
        assert not re.search(r'(src|href)="(https?:)?//', response.text), response.url


def test_every_form_refuses_a_missing_or_wrong_csrf_token(site: Site) -> None:
    forms = {
        "/login": {"switch": site.switch, "password": PASSWORD},
        "/logout": {},
        f"/owner/{site.switch}/checkin": {},
        f"/owner/{site.switch}/settings": {"interval": "2d", "password": PASSWORD},
        f"/owner/{site.switch}/canary": {"name": "mother", "interval": "1d", "password": PASSWORD},
        f"/s/{site.switch}/share": {"words": site.bundle.mnemonics["carol"]},
        f"/s/{site.switch}/code": {"code": "a" * 32},
        f"/s/{site.switch}/vote": {"action": "vote"},
        f"/s/{site.switch}/forget": {},
        f"/canary/{'0' * 32}": {},
    }
    with signed_in(site) as (http, token):
        before = site.engine.status(site.switch)["audit"]
        for path, data in forms.items():
            for bad in ({}, {"csrf": "0" * 64}, {"csrf": token[:10]}):
                response = http.post(path, data={**data, **bad})
                assert response.status_code == 403, (path, bad, response.text)
                assert "security token is missing" in response.text
        upload = {"document": ("notice.json", site.bundle.part("notice"), "application/json")}
        for bad in ({}, {"csrf": "0" * 64}):
            response = http.post("/verify", data=bad, files=upload)
            assert response.status_code == 403, response.text
        # a token is only good with its own cookie
        http.cookies.clear()
        response = http.post("/verify", data={"csrf": token}, files=upload)
        assert response.status_code == 403
        assert site.engine.status(site.switch)["audit"] == before  # nothing happened
        # and with the right token the same forms work
        with signed_in(site) as (http2, token2):
            response = http2.post(f"/owner/{site.switch}/checkin", data={"csrf": token2})
            assert response.status_code == 303
            assert site.engine.status(site.switch)["audit"][-1]["kind"] == "checked-in"
            response = http2.post("/verify", data={"csrf": token2}, files=upload)
            assert response.status_code == 200 and "Verified." in response.text


def test_sign_in_is_rate_limited_per_address_and_switch(site: Site) -> None:
    with site.http() as http:
        token = csrf_of(http.get("/login").text)
        wrong = {"csrf": token, "switch": site.switch, "password": "wrong password!"}
        for _ in range(10):
            assert http.post("/login", data=wrong).status_code == 403
        right = {**wrong, "password": PASSWORD}
        response = http.post("/login", data=right)
        assert response.status_code == 429
        assert "Too many sign-in attempts for this switch from your address." in response.text
        assert "Wait 15 minutes, then try again." in response.text
    kinds = [e["kind"] for e in site.engine.status(site.switch)["audit"]]
    assert kinds.count("signin-refused") + kinds.count("sign-in-refused") == 10


@pytest.mark.parametrize("form", ["checkin", "share"])
def test_check_in_and_share_submission_are_rate_limited(site: Site, form: str) -> None:
    path = f"/owner/{site.switch}/checkin" if form == "checkin" else f"/s/{site.switch}/share"
    with signed_in(site) as (http, token):
        data = {"csrf": token, "words": "not a share"}
        codes = [http.post(path, data=data).status_code for _ in range(11)]
        assert codes[:10] == [303 if form == "checkin" else 400] * 10
        assert codes[10] == 429
        response = http.post(path, data=data)
        assert response.headers["retry-after"]
        wait = "10 minutes" if form == "checkin" else "15 minutes"
        assert f"from your address. Wait {wait}, then try again." in response.text
