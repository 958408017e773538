from __future__ import annotations

import pytest

from distillguard.gateway.clientip import ClientIpResolver

PROXIES = ClientIpResolver(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    "peer, xff, expected",
    [
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.1.1.1", "198.51.100.7", "198.51.100.7"),
        ("10.1.1.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # left part is client-written
        ("10.1.1.1", "198.51.100.7, 10.2.2.2", "198.51.100.7"),  # chain of trusted proxies
        ("10.1.1.1", "10.2.2.2, 10.3.3.3", "10.2.2.2"),  # all trusted: leftmost we saw
        ("10.1.1.1", "garbage, 198.51.100.7", "198.51.100.7"),
        ("10.1.1.1", "198.51.100.7, garbage", "10.1.1.1"),  # unparseable hop: stop trusting
        ("10.1.1.1", None, "10.1.1.1"),
        ("10.1.1.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.1.1.1", "198.51.100.7:5555", "198.51.100.7"),
        ("fd00::5", "2001:db8::9", "2001:db8::9"),
        (None, "1.2.3.4", "unknown"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str | None, xff: str | None, expected: str
) -> None:
    assert PROXIES.resolve(peer, xff) == expected


def test_without_trusted_proxies_the_header_never_counts() -> None:
    assert ClientIpResolver([]).resolve("127.0.0.1", "1.2.3.4") == "127.0.0.1"
