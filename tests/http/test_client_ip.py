"""X-Forwarded-For is believed only from trusted proxies."""

from engine.http.client_ip import client_ip, parse_networks

PROXIES = parse_networks(["10.0.0.0/8"])


def test_socket_peer_without_trusted_proxies() -> None:
    assert client_ip("203.0.113.9", "198.51.100.7", ()) == "203.0.113.9"


def test_untrusted_peer_cannot_spoof_the_header() -> None:
    assert client_ip("203.0.113.9", "198.51.100.7", PROXIES) == "203.0.113.9"


def test_trusted_proxy_gives_the_rightmost_untrusted_hop() -> None:
    assert client_ip("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.0.0.5", PROXIES) == "198.51.100.7"
