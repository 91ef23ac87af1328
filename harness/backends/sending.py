"""Send one platform API call: bounded concurrency, safe retries, a total deadline.

The only retry layer on this call path (httpx's transport retries stay off): an attempt holds one
of `max_concurrency` slots while in flight, waits between attempts hold none, and the whole call,
waits included, ends at its deadline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from harness.backends.api_errors import (
    ApiCall,
    error_for_deadline,
    error_for_response,
    error_for_transport,
)
from harness.backends.retry import RetryPolicy, is_retryable_error, is_retryable_status
from harness.errors import ApiError

__all__ = ["RetryingSender"]

logger = logging.getLogger("harness.backends.api")


@dataclass
class _Attempts:
    """State of one call, so the deadline handler knows whether a request was in flight."""

    deadline: float
    in_flight: bool = False
    retries: int = 0


class RetryingSender:
    """Sends `ApiCall`s on an `httpx.AsyncClient` and returns 2xx responses or raises `ApiError`.

    Args:
        http: the client that carries the requests.
        headers: sent with every request.
        timeout: per-request timeouts.
        policy: retry limits and backoff.
        deadline_seconds: total time per call, retries and waits included.
        max_concurrency: requests in flight at once through this sender.
        secret: masked as `***` in every error message (the API key).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        headers: dict[str, str],
        timeout: httpx.Timeout,
        policy: RetryPolicy,
        deadline_seconds: float,
        max_concurrency: int,
        secret: str | None = None,
    ) -> None:
        self._http = http
        self._headers = headers
        self._timeout = timeout
        self._policy = policy
        self._deadline_seconds = deadline_seconds
        self._slots = asyncio.Semaphore(max_concurrency)
        self._secret = secret

    async def send(self, call: ApiCall, body: Any = None) -> httpx.Response:
        """Send `call` with JSON `body`, retrying where safe, within the deadline."""
        state = _Attempts(deadline=asyncio.get_running_loop().time() + self._deadline_seconds)
        try:
            async with asyncio.timeout_at(state.deadline):
                return await self._attempts(call, body, state)
        except TimeoutError as exc:
            error = error_for_deadline(call, self._deadline_seconds, in_flight=state.in_flight)
            raise self.scrub(error) from exc
        except ApiError as exc:
            raise self.scrub(exc) from exc.__cause__

    def scrub(self, error: ApiError) -> ApiError:
        """The error with the secret masked, in case the server echoed it back."""
        key = self._secret
        if not key or (key not in error.message and key not in (error.hint or "")):
            return error
        hint = error.hint.replace(key, "***") if error.hint else None
        clean = type(error)(
            error.message.replace(key, "***"), status_code=error.status_code, hint=hint
        )
        clean.__cause__ = error.__cause__
        return clean

    async def _attempts(self, call: ApiCall, body: Any, state: _Attempts) -> httpx.Response:
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._request_once(call, body, state)
            except httpx.TransportError as exc:
                error = error_for_transport(exc, call, retries=state.retries)
                if not self._may_retry(state) or not is_retryable_error(
                    exc, idempotent=call.idempotent
                ):
                    raise error from exc
                failure = type(exc).__name__
            else:
                if response.is_success:
                    return response
                error = error_for_response(response, call, retries=state.retries)
                if not self._may_retry(state) or not is_retryable_status(
                    response.status_code, idempotent=call.idempotent
                ):
                    raise error
                failure = f"HTTP {response.status_code}"
            await self._wait(call, state, response, failure, error)

    def _may_retry(self, state: _Attempts) -> bool:
        return state.retries < self._policy.max_retries

    async def _request_once(self, call: ApiCall, body: Any, state: _Attempts) -> httpx.Response:
        async with self._slots:
            # Cleared only when the exchange ends: if the deadline cancels it midway, the flag
            # stays set and the deadline error says the request may have executed.
            state.in_flight = True
            try:
                response = await self._http.request(
                    call.method,
                    call.url,
                    params=call.params or None,
                    json=body,
                    headers=self._headers,
                    timeout=self._timeout,
                )
            except httpx.RequestError as exc:
                state.in_flight = False
                if isinstance(exc, httpx.TransportError):
                    raise
                raise ApiError(f"{call.where}: {type(exc).__name__}: {exc}") from exc
            state.in_flight = False
            return response

    async def _wait(
        self,
        call: ApiCall,
        state: _Attempts,
        response: httpx.Response | None,
        failure: str,
        error: ApiError,
    ) -> None:
        """Sleep before the next retry, unless the next attempt would start past the deadline."""
        state.retries += 1
        delay = self._policy.delay(state.retries, response)
        remaining = state.deadline - asyncio.get_running_loop().time()
        if delay >= remaining:
            raise type(error)(
                f"{error.message}\n  (not retried: the next attempt would start {delay:.1f} s "
                f"from now, after this call's deadline of {self._deadline_seconds:g} s)",
                status_code=error.status_code,
                hint=error.hint,
            )
        logger.info(
            "%s failed (%s); retry %d/%d in %.2f s",
            call.where,
            failure,
            state.retries,
            self._policy.max_retries,
            delay,
        )
        await asyncio.sleep(delay)
