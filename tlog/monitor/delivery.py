"""Handing findings to hooks: a command and a webhook (docs/monitor.md "Delivery").

At least once: :meth:`Delivery.deliver` returns only when every hook took the finding;
a hook that fails raises :class:`DeliveryError`, the run stops before its state moves
past that finding, and the next run delivers it again.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from tlog.errors import TlogError
from tlog.monitor.finding import Finding

__all__ = ["Delivery", "DeliveryError"]

#: Seconds a hook may take.
HOOK_TIMEOUT = 30.0

#: POST(url, body, timeout) → HTTP status; raises OSError on network failure.
Poster = Callable[[str, bytes, float], int]


class DeliveryError(TlogError):
    """A hook did not take a finding; it will be delivered again on the next run."""


def _post(url: str, body: bytes, timeout: float) -> int:
    import requests

    try:
        response = requests.post(
            url, data=body, timeout=timeout, headers={"Content-Type": "application/json"}
        )
    except requests.RequestException as exc:
        raise OSError(str(exc)) from exc
    return response.status_code


@dataclass
class Delivery:
    """The hooks of one run: ``command`` gets each finding's JSON on stdin (exit status
    0 is success); ``webhook`` gets it POSTed (a 2xx answer is success)."""

    command: str | None = None
    webhook: str | None = None
    timeout: float = HOOK_TIMEOUT
    post: Poster = _post

    def deliver(self, finding: Finding) -> None:
        body = (finding.to_json() + "\n").encode()
        if self.command:
            self._run(body)
        if self.webhook:
            try:
                status = self.post(self.webhook, body, self.timeout)
            except OSError as exc:
                raise DeliveryError(f"webhook {self.webhook} failed: {exc}") from exc
            if not 200 <= status < 300:
                raise DeliveryError(f"webhook {self.webhook} answered HTTP {status}")

    def _run(self, body: bytes) -> None:
        assert self.command is not None
        try:
            done = subprocess.run(
                shlex.split(self.command),
                input=body,
                timeout=self.timeout,
                check=False,
                stdout=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
            raise DeliveryError(f"hook {self.command!r} failed: {exc}") from exc
        if done.returncode != 0:
            raise DeliveryError(f"hook {self.command!r} exited with status {done.returncode}")
