"""Client context: the address and User-Agent a request came from, and when two presentations of
one refresh token count as "the same client" for the grace window
(docs/protocol.md#the-grace-window).

Pure functions, no framework: the integrations hand in the socket peer and the one forwarding
header the trusted proxies write; the managers compare stored and presented contexts.

Why a network and not the address: one honest browser's tabs share an address, but a phone that
moves between cells or a user behind carrier-grade NAT changes address within its provider's
range. An IPv4 /24 or an IPv6 /64 (one customer's prefix) absorbs that while still separating a
thief on another network. The trade-offs of each binding are in docs/security.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal

from sessionward._models import ClientContext

GraceBinding = Literal["network_and_user_agent", "user_agent", "none"]
GRACE_BINDINGS: tuple[GraceBinding, ...] = ("network_and_user_agent", "user_agent", "none")
# The forwarding header that trusted proxies write the client's address into (lower case, as
# the adapters look headers up): nginx's and HAProxy's X-Forwarded-For, or RFC 7239 Forwarded.
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
FORWARDED_HEADERS: tuple[ForwardedHeader, ...] = ("x-forwarded-for", "forwarded")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_USER_AGENT_LENGTH = 512  # longer values are cut: a User-Agent is a label, not an identity
MAX_IP_LENGTH = 64
_IPV4_PREFIX = 24
_IPV6_PREFIX = 64
_MAX_FORWARDED_HOPS = 32  # a header longer than this is not walked further


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (``"10.0.0.0/8"``, ``"::1"``) as networks; ValueError names a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except (ValueError, TypeError, AttributeError):
            raise ValueError(f"not an IP network: {value!r}") from None
    return tuple(networks)


def parse_ip(text: str | None) -> IPAddress | None:
    """An address from a peer or a forwarding header (``[v6]:port`` and ``v4:port`` too)."""
    if not text:
        return None
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_hops(value: str, header: ForwardedHeader) -> list[str]:
    """The addresses a forwarding header names, nearest hop last: one per ``X-Forwarded-For``
    entry, or one per RFC 7239 ``Forwarded`` element (its ``for=``; "" when it names none, so
    that an element without one is an unknown hop rather than skipped)."""
    if header == "x-forwarded-for":
        return [hop.strip() for hop in value.split(",")]
    hops = []
    for element in value.split(","):
        found = ""
        for pair in element.split(";"):
            name, _, pair_value = pair.strip().partition("=")
            if name.strip().lower() == "for":
                found = pair_value.strip()
        hops.append(found)
    return hops


def client_ip(
    peer: str | None,
    header_value: str | None = None,
    *,
    header: ForwardedHeader = "x-forwarded-for",
    trusted_proxies: tuple[IPNetwork, ...] = (),
) -> str | None:
    """The client's address: the socket peer, unless the peer is a trusted proxy; then the
    nearest hop of ``header_value`` (the ``header`` the trusted proxies write, every line of it
    joined with ",") that is not a trusted proxy.

    Only ``header`` is read: the proxies pass the other forwarding header on as the client sent
    it, so believing it, even as a fallback, would let the client name itself. And it is walked
    from the right because each proxy appends the peer it saw: the entries right of the first
    untrusted hop were written by trusted proxies, everything left of it by the client.
    """
    address = parse_ip(peer)
    if address is None or not trusted_proxies:
        return None if address is None else str(address)
    hops = forwarded_hops(header_value, header) if header_value else []
    for hop in reversed(hops[-_MAX_FORWARDED_HOPS:]):
        if not any(address in network for network in trusted_proxies):
            break
        previous = parse_ip(hop)
        if previous is None:
            return None  # a trusted proxy says "unknown" (or wrote garbage): no address
        address = previous
    return str(address)


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) that ``ip`` belongs to; an unparseable value stands for
    itself, and None stays None."""
    address = parse_ip(ip)
    if address is None:
        return ip
    prefix = _IPV4_PREFIX if address.version == 4 else _IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def clean_user_agent(value: str | None) -> str | None:
    """A User-Agent safe to store and show: printable characters only, at most 512."""
    if not value:
        return None
    cleaned = "".join(c for c in value[: MAX_USER_AGENT_LENGTH * 2] if c.isprintable())
    return cleaned[:MAX_USER_AGENT_LENGTH].strip() or None


def clean_client(client: ClientContext | None) -> ClientContext | None:
    """A context fit for storage: a parseable address (IPv4-mapped IPv6 as IPv4), a clean UA."""
    if client is None:
        return None
    address = parse_ip(client.ip) if isinstance(client.ip, str) else None
    agent = client.user_agent if isinstance(client.user_agent, str) else None
    return ClientContext(None if address is None else str(address), clean_user_agent(agent))


def same_client(
    first: ClientContext | None, second: ClientContext | None, binding: GraceBinding
) -> bool:
    """Whether two presentations of one refresh token may come from one client, under
    ``binding``. A missing context equals only another missing one."""
    if binding == "none":
        return True
    first = first or ClientContext()
    second = second or ClientContext()
    if first.user_agent != second.user_agent:
        return False
    return binding == "user_agent" or network_of(first.ip) == network_of(second.ip)
