"""Django's Redis cache, reusing one client object per connection pool, plus the API throttle.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call
(about 80 µs: the client copies its table of response callbacks). A client is a thin,
thread-safe wrapper around its connection pool, so one per pool serves every call; the API's
throttle and the task debounce make three cache calls per forecast submission.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = super().get_client(key, write=write)
        return client


# GCRA over several keys at once, all or nothing (see api.throttling.ApiThrottle).
# KEYS: one per scope. ARGV: now, then each key's emission interval and period, in seconds.
# Returns the seconds to wait as a string ("0": allowed and recorded); Lua numbers would be
# truncated to integers in the reply.
GCRA_SCRIPT = """
local now = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local period = tonumber(ARGV[2 * i + 1])
  local tat = math.max(tonumber(redis.call('GET', key) or now) or now, now) + interval
  tats[i] = tat
  if tat - now > period then wait = math.max(wait, tat - now - period) end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil(tonumber(ARGV[2 * i + 1]) * 1000)
  redis.call('SET', key, string.format('%.6f', tats[i]), 'PX', ttl)
end
return '0'
"""


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: Any) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._gcra: Any = None

    def throttle_gcra(self, checks: list[tuple[str, int, int]], now: float) -> float:
        """Check and record one request against every ``(key, num, duration)``; atomic.

        Returns the seconds to wait before the request would be allowed, or 0 (recorded).
        """
        client = self._cache.get_client(write=True)
        if self._gcra is None:
            self._gcra = client.register_script(GCRA_SCRIPT)
        keys = [self.make_and_validate_key(key) for key, _, _ in checks]
        args: list[float] = [now]
        for _, num, duration in checks:
            args += [duration / num, duration]
        return float(self._gcra(keys=keys, args=[repr(a) for a in args], client=client))
