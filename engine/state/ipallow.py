"""IP allowlists: parse CIDR/IP entries once, then test client addresses against them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowlist(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "192.0.2.7"]`` -> networks; ValueError naming the bad entry."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR range: {entry!r}") from None
    return tuple(networks)


def ip_allowed(client_ip: str, networks: tuple[Network, ...]) -> bool:
    """True when ``networks`` is empty or contains ``client_ip`` (IPv4-mapped IPv6 counts as IPv4)."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(client_ip.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        mapped = address.ipv4_mapped
        return any(mapped in net or address in net for net in networks)
    return any(address in net for net in networks)
