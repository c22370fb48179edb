"""The address a request came from, behind reverse proxies: the direct peer, unless it is
one of ``web.trusted_proxies``; then X-Forwarded-For, read from the right (each proxy
appends the address it was reached from), and the first address that is not a trusted proxy
is the client's. A header from anyone else is never read: a client could write anything
into it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from aiohttp import web

Network = IPv4Network | IPv6Network


def networks(addresses: Iterable[str]) -> tuple[Network, ...]:
    """"10.0.0.5", "10.0.0.0/8", "::1" → networks (a bare address is a network of one)."""
    return tuple(ip_network(address.strip(), strict=False) for address in addresses)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def client_address(request: web.Request, proxies: Sequence[Network]) -> str:
    peer = request.remote or ""
    if not proxies or not _trusted(peer, proxies):
        return peer
    forwarded = [part.strip() for header in request.headers.getall("X-Forwarded-For", [])
                 for part in header.split(",") if part.strip()]
    for address in reversed(forwarded):
        if not _trusted(address, proxies):
            return address
    return forwarded[0] if forwarded else peer  # only proxies: the farthest one is the client
