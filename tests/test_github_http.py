"""The providers' HTTP client against a real local server: pagination, ETags, rate limits, retries, 401."""
from __future__ import annotations

import pytest

from plugins.http import (
    ApiClient, BadCredentials, EtagCache, ProviderError, RateLimited, Unavailable, next_page_url, rate_limit_wait,
)
from plugins.api import RetryableError
from tests.fixtures.github.recorded_api import RecordedApi

TOKEN = "ghp_test_token"
ITEMS = [{"id": i, "name": f"repo-{i}"} for i in range(1, 8)]


class FakeTime:
    """An injectable clock whose sleep advances it (and records every wait)."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def api():
    with RecordedApi({"/orgs/acme/repos": ITEMS, "/users/alice": {"login": "alice"}}, style="github",
                     token=TOKEN, per_page_cap=3) as server:
        yield server


@pytest.fixture
def time_():
    return FakeTime()


def client(api, time_, tmp_path, **kw) -> ApiClient:
    return ApiClient(api.url, provider="GitHub", headers={"Authorization": f"Bearer {TOKEN}"},
                     cache=EtagCache(tmp_path / "etags"), clock=time_.clock, sleep=time_.sleep, **kw)


def test_pagination_follows_link_headers_to_the_last_page(api, time_, tmp_path):
    got = list(client(api, time_, tmp_path).items("orgs/acme/repos", {"per_page": 100}))
    assert got == ITEMS
    assert [status for _, status in api.log] == [200, 200, 200]   # 3 + 3 + 1 items


def test_gitlab_x_next_page_alone_is_followed(tmp_path, time_):
    with RecordedApi({"/groups/1/projects": ITEMS}, style="gitlab", token=TOKEN, prefix="/api/v4",
                     per_page_cap=2) as gl:
        c = ApiClient(gl.url, provider="GitLab", headers={"PRIVATE-TOKEN": TOKEN}, clock=time_.clock,
                      sleep=time_.sleep)
        assert list(c.items("groups/1/projects")) == ITEMS
        assert len(gl.log) == 4


def test_second_request_is_conditional_and_a_304_reuses_the_cached_body(api, time_, tmp_path):
    first = client(api, time_, tmp_path)
    assert list(first.items("orgs/acme/repos")) == ITEMS
    second = client(api, time_, tmp_path)
    assert list(second.items("orgs/acme/repos")) == ITEMS
    assert [status for _, status in api.log] == [200, 200, 200, 304, 304, 304]
    assert second.stats.not_modified == 3
    # a changed resource is fetched again in full
    api.routes["/orgs/acme/repos"] = ITEMS[:2]
    assert list(client(api, time_, tmp_path).items("orgs/acme/repos")) == ITEMS[:2]
    assert api.log[-1][1] == 200


def test_rate_limit_with_reset_header_sleeps_until_reset_then_resumes(api, time_, tmp_path):
    reset = int(time_.now) + 42
    api.queue("/users/alice", (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                               {"message": "API rate limit exceeded for user ID 1."}))
    c = client(api, time_, tmp_path)
    page = c.get("users/alice")
    assert page.body == {"login": "alice"}
    assert time_.sleeps == [43.0]           # until the reset second, inclusive
    assert c.stats.rate_limit_waits == 1 and c.stats.requests == 2


def test_secondary_rate_limit_retry_after_and_429(api, time_, tmp_path):
    api.queue("/users/alice",
              (403, {"retry-after": "5"}, {"message": "You have exceeded a secondary rate limit."}),
              (429, {"retry-after": "7"}, {"message": "Too Many Requests"}))
    assert client(api, time_, tmp_path).get("users/alice").body == {"login": "alice"}
    assert time_.sleeps == [5.0, 7.0]


def test_rate_limit_reset_beyond_the_cap_is_a_retryable_run_error(api, time_, tmp_path):
    api.queue("/users/alice", (403, {"x-ratelimit-remaining": "0",
                                     "x-ratelimit-reset": str(int(time_.now) + 3000)}, {"message": "limit"}))
    with pytest.raises(RateLimited) as err:
        client(api, time_, tmp_path, max_wait=600).get("users/alice")
    assert isinstance(err.value, RetryableError) and err.value.retry_after == pytest.approx(3001)
    assert time_.sleeps == []


def test_5xx_is_retried_with_backoff_and_then_succeeds(api, time_, tmp_path):
    api.queue("/users/alice", (502, {}, {"message": "Bad Gateway"}), (503, {}, {"message": "busy"}))
    c = client(api, time_, tmp_path, backoff=0.5)
    assert c.get("users/alice").body == {"login": "alice"}
    assert time_.sleeps == [0.5, 1.0] and c.stats.retries == 2


def test_persistent_5xx_gives_up_after_bounded_retries(api, time_, tmp_path):
    api.queue("/users/alice", *[(500, {}, {"message": "boom"})] * 10)
    with pytest.raises(Unavailable, match="answered 500 .* 4 times"):
        client(api, time_, tmp_path, max_retries=3).get("users/alice")
    assert len(api.log) == 4


def test_bad_credentials_is_a_clear_error(api, time_, tmp_path):
    c = ApiClient(api.url, provider="GitHub", headers={"Authorization": "Bearer wrong"},
                  clock=time_.clock, sleep=time_.sleep)
    with pytest.raises(BadCredentials, match="bad credentials: GitHub refused the token"):
        c.get("users/alice")


def test_404_is_none_only_when_allowed(api, time_, tmp_path):
    c = client(api, time_, tmp_path)
    assert c.get("users/nobody", allow_404=True) is None
    with pytest.raises(ProviderError, match="404 .*Not Found"):
        c.get("users/nobody")


def test_unreachable_server_is_retried_then_unavailable(time_, tmp_path):
    from servers.base import free_port

    c = ApiClient(f"http://127.0.0.1:{free_port()}", provider="GitHub", clock=time_.clock, sleep=time_.sleep,
                  max_retries=2, timeout=2)
    with pytest.raises(Unavailable, match="could not be reached"):
        c.get("users/alice")
    assert len(time_.sleeps) == 2


def test_reuse_cached_answers_without_asking(api, time_, tmp_path):
    client(api, time_, tmp_path).get("users/alice")
    client(api, time_, tmp_path).get("users/ghost", allow_404=True)
    before = len(api.log)
    c = client(api, time_, tmp_path)
    assert c.get("users/alice", reuse_cached=True).body == {"login": "alice"}
    assert c.get("users/ghost", allow_404=True, reuse_cached=True) is None
    assert len(api.log) == before


def test_link_and_rate_limit_header_parsing():
    headers = {"Link": '<https://api.github.com/orgs/a/repos?page=2>; rel="next", '
                       '<https://api.github.com/orgs/a/repos?page=5>; rel="last"'}
    assert next_page_url("https://api.github.com/orgs/a/repos", headers) == "https://api.github.com/orgs/a/repos?page=2"
    assert next_page_url("https://gl/api/v4/groups?per_page=20&page=1", {"X-Next-Page": "2"}) == \
        "https://gl/api/v4/groups?per_page=20&page=2"
    assert next_page_url("https://gl/x", {"X-Next-Page": ""}) is None
    assert rate_limit_wait(403, {}, 0) is None                     # a plain permission error
    assert rate_limit_wait(429, {"ratelimit-remaining": "0", "ratelimit-reset": "100"}, 90) == 11.0   # GitLab
    assert rate_limit_wait(500, {"retry-after": "3"}, 0) is None


def test_a_next_page_link_to_another_host_is_not_followed(api, time_, tmp_path):
    api.queue("/orgs/acme/repos", (200, {"Link": '<https://evil.example/steal?page=2>; rel="next"'}, ITEMS[:1]))
    with pytest.raises(ProviderError, match="another host"):
        list(client(api, time_, tmp_path).items("orgs/acme/repos"))
