"""Short device labels for a "your devices" page: "Firefox on Linux", "Mobile Safari on iOS".

Parsed with ``ua-parser`` (the maintained port of the uap-core rules); labels are cached, since
a user's sessions are listed often and their User-Agents rarely change.
"""

from __future__ import annotations

import functools
import re

_PRODUCT = re.compile(r"^([A-Za-z][\w.-]{0,40})/")


@functools.lru_cache(maxsize=4096)
def device_label(user_agent: str | None) -> str | None:
    """A label for ``user_agent``: browser and operating system, or the product name of a tool
    (``curl``, ``python-httpx``), or None when there is nothing to say."""
    if not user_agent:
        return None
    from ua_parser import parse  # here: its rules load on first use, not at import

    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    system = result.os.family if result.os else None
    if browser in (None, "Other"):
        product = _PRODUCT.match(user_agent)
        browser = product.group(1) if product else None
    if system in (None, "Other"):
        system = None
    if browser and system:
        return f"{browser} on {system}"
    return browser or system
