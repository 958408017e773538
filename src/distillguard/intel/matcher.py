"""Match live requests against indicators peers shared with us.

``match`` runs once per request, so its network and hash look-ups are dict hits: the /24 or /48
string that ``network_of`` already computes for every event, then one dict per other prefix
length (masking an address is cheaper than testing it against each network). Template matching
needs a MinHash of the prompt skeleton, which costs about 0.2 ms, so it is opt-in: callers pass
a skeleton only when they want it checked, or call ``match_template`` themselves; recent
skeletons are answered from a small cache.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections import OrderedDict, defaultdict

from datasketch import MinHashLSH

from distillguard.features.request import network_of
from distillguard.intel.fingerprint import (
    hash_value,
    minhash_similarity,
    signature_minhash,
    template_minhash,
)
from distillguard.intel.model import PeerIndicator


class IntelMatcher:
    """Indexes peer indicators once; answers per request without parsing or scanning them."""

    def __init__(
        self,
        indicators: list[PeerIndicator],
        minhash_threshold: float = 0.7,
        *,
        num_perm: int = 128,
        cache_size: int = 4096,
    ) -> None:
        if not 0.0 < minhash_threshold <= 1.0:
            raise ValueError(f"minhash_threshold {minhash_threshold} outside (0, 1]")
        self.minhash_threshold = minhash_threshold
        self.num_perm = num_perm
        self.cache_size = cache_size
        self.skipped_templates = 0  # signatures of another length than ours: not comparable
        # "203.0.113.0/24" / "2001:db8::/48" -> indicators, the form network_of() returns
        self._home: dict[str, list[PeerIndicator]] = defaultdict(list)
        # (version, prefix length) -> network address as int -> indicators
        self._other: dict[tuple[int, int], dict[int, list[PeerIndicator]]] = {}
        self._hashes: dict[tuple[str, str], list[PeerIndicator]] = defaultdict(list)
        self._templates: list[tuple[PeerIndicator, tuple[int, ...]]] = []
        self._lsh = MinHashLSH(threshold=minhash_threshold, num_perm=num_perm)
        self._cache: OrderedDict[bytes, tuple[PeerIndicator, ...]] = OrderedDict()
        for indicator in indicators:
            self._add(indicator)
        # Longest prefixes first, so the most specific network is reported first.
        self._other = dict(sorted(self._other.items(), key=lambda kv: (kv[0][0], -kv[0][1])))

    def _add(self, indicator: PeerIndicator) -> None:
        value = indicator.value
        if indicator.kind == "template_minhash":
            if not isinstance(value, tuple) or len(value) != self.num_perm:
                self.skipped_templates += 1
                return
            self._lsh.insert(str(len(self._templates)), signature_minhash(value))
            self._templates.append((indicator, value))
            return
        if not isinstance(value, str):
            raise ValueError(f"{indicator.indicator_id}: {indicator.kind} value must be text")
        if indicator.kind == "cidr":
            network = ipaddress.ip_network(value, strict=False)
            if network.prefixlen == (24 if network.version == 4 else 48):
                self._home[str(network)].append(indicator)
            else:
                by_address = self._other.setdefault((network.version, network.prefixlen), {})
                by_address.setdefault(int(network.network_address), []).append(indicator)
        else:
            self._hashes[(indicator.kind, value.lower())].append(indicator)

    def match(
        self,
        ip: str,
        payment_fingerprint: str | None,
        user_agent: str | None,
        skeleton: str | None,
    ) -> list[PeerIndicator]:
        """Every indicator one request matches: networks, payment, client, then template."""
        found = list(self._match_network(ip)) if ip else []
        if payment_fingerprint and payment_fingerprint.strip() and self._hashes:
            digest = hash_value("payment", payment_fingerprint)
            found += self._hashes.get(("payment_sha256", digest), ())
        if user_agent and user_agent.strip() and self._hashes:
            found += self._hashes.get(("client_sha256", hash_value("client", user_agent)), ())
        if skeleton is not None:
            found += self.match_template(skeleton)
        return found

    def _match_network(self, ip: str) -> list[PeerIndicator]:
        if ":" in ip and "." in ip:  # IPv4-mapped IPv6: match the IPv4 indicators
            try:
                mapped = ipaddress.IPv6Address(ip).ipv4_mapped
            except ValueError:
                mapped = None
            ip = str(mapped) if mapped is not None else ip
        found = list(self._home.get(network_of(ip), ()))
        if not self._other:
            return found
        parsed = _address(ip)
        if parsed is None:
            return found
        version, as_int = parsed
        bits = 32 if version == 4 else 128
        for (net_version, prefixlen), by_address in self._other.items():
            if net_version == version:
                mask = ((1 << prefixlen) - 1) << (bits - prefixlen)
                found += by_address.get(as_int & mask, ())
        return found

    def match_template(self, skeleton: str) -> list[PeerIndicator]:
        """Peer templates whose estimated Jaccard similarity reaches the threshold.

        LSH only proposes candidates; each is confirmed against the threshold, because LSH
        also lets through some pairs below it.
        """
        if not self._templates or not skeleton.split():
            return []
        # Keyed by a digest, so the cache keeps no prompt text.
        key = hashlib.blake2b(skeleton.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return list(hit)
        signature = template_minhash(skeleton, self.num_perm)
        candidates = sorted(int(k) for k in self._lsh.query(signature_minhash(signature)))
        matched = tuple(
            indicator
            for indicator, peer_signature in (self._templates[i] for i in candidates)
            if minhash_similarity(signature, peer_signature) >= self.minhash_threshold
        )
        self._cache[key] = matched
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return list(matched)


def _address(ip: str) -> tuple[int, int] | None:
    """(version, address as int), parsed in C: ``ipaddress`` takes ~5 us per address."""
    family, version = (socket.AF_INET6, 6) if ":" in ip else (socket.AF_INET, 4)
    try:
        return version, int.from_bytes(socket.inet_pton(family, ip), "big")
    except (OSError, ValueError):
        return None
