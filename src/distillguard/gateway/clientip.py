"""Who is the client: the socket peer, or X-Forwarded-For when the peer is a trusted proxy.

The header is walked right to left and the first address that is not a trusted proxy wins;
anything left of it was written by the client and could be forged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; they are IPv4 clients.
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip


class ClientIpResolver:
    def __init__(self, trusted_proxies: Iterable[str]):
        self._trusted: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies
        )

    def _is_trusted(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client address as a string ('unknown' when the socket gives none)."""
        if not peer:
            return "unknown"
        peer_ip = _parse_ip(peer)
        if peer_ip is None:
            return peer
        if not self._trusted or not forwarded_for or not self._is_trusted(peer_ip):
            return str(peer_ip)
        client = peer_ip
        for hop in reversed(forwarded_for.split(",")):
            ip = _parse_ip(hop)
            if ip is None:
                break  # garbage in the chain: stop at the last address we could trust
            client = ip
            if not self._is_trusted(ip):
                break
        return str(client)
