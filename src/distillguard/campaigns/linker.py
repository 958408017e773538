"""Link accounts into campaigns ("hydra clusters") through shared evidence.

Each account carries a few keys: its payment fingerprint, its networks (/24, /48), the
scaffold that frames most of its prompts (when that scaffold is filled with ever-new data
elsewhere too), its system prompt, its parameter-and-client signature. Two accounts that
share keys whose weights add up to ``link_threshold`` are joined (union-find). Weights are
set so that no weak key links on its own: a shared NAT (network) or a popular app's system
prompt never links anyone without stronger evidence beside it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from distillguard.engine_config import LinkConfig

KEY_KINDS = ("payment", "scaffold", "network", "system", "signature")


Key = tuple[str, object]  # (kind, value)
_NO_KEYS: frozenset[Key] = frozenset()


@dataclass(slots=True)
class CampaignStats:
    """Aggregates of one campaign, kept at its union-find root and merged on union."""

    accounts: int = 1
    requests: int = 0
    harvest: float = 0.0
    templated: int = 0  # requests framed by a scaffold many accounts fill with new data
    flagged_ts: float | None = None  # when the campaign (or any campaign merged in) was flagged
    first_ts: float = 0.0
    last_ts: float = 0.0
    capabilities: Counter[str] = field(default_factory=Counter)
    evidence: Counter[str] = field(default_factory=Counter)

    def merge(self, other: CampaignStats) -> None:
        if other.requests:
            self.first_ts = min(self.first_ts, other.first_ts) if self.requests else other.first_ts
        self.accounts += other.accounts
        self.requests += other.requests
        self.harvest += other.harvest
        self.templated += other.templated
        if other.flagged_ts is not None:
            # A flag survives a merge: joining a bigger group must not launder a campaign.
            self.flagged_ts = (
                other.flagged_ts
                if self.flagged_ts is None
                else min(self.flagged_ts, other.flagged_ts)
            )
        self.last_ts = max(self.last_ts, other.last_ts)
        self.capabilities.update(other.capabilities)
        self.evidence.update(other.evidence)

    @property
    def harvest_share(self) -> float:
        return self.harvest / self.requests if self.requests else 0.0

    @property
    def templated_share(self) -> float:
        return self.templated / self.requests if self.requests else 0.0


class Linker:
    def __init__(self, config: LinkConfig | None = None):
        self.config = config or LinkConfig()
        self._parent: dict[str, str] = {}
        self._stats: dict[str, CampaignStats] = {}
        self._keys: dict[str, set[Key]] = {}
        self._holders: dict[Key, list[str]] = {}

    # union-find ---------------------------------------------------------------------
    def root(self, account: str) -> str:
        parent = self._parent
        if account not in parent:
            parent[account] = account
            return account
        node = account
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving
            node = parent[node]
        return node

    def _union(self, a: str, b: str, kinds: list[str]) -> str:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return ra
        sa, sb = self.stats(ra), self.stats(rb)
        if sa.accounts < sb.accounts:
            ra, rb, sa, sb = rb, ra, sb, sa
        self._parent[rb] = ra
        sa.merge(sb)
        del self._stats[rb]
        sa.evidence.update(kinds)
        return ra

    def stats(self, root: str) -> CampaignStats:
        stats = self._stats.get(root)
        if stats is None:
            stats = self._stats[root] = CampaignStats()
        return stats

    def campaign_of(self, account: str) -> tuple[str, CampaignStats]:
        root = self.root(account)
        return root, self.stats(root)

    # evidence ------------------------------------------------------------------------
    def add_key(self, account: str, key: Key) -> bool:
        """Give ``account`` a key; link it to holders it now shares enough with."""
        keys = self._keys.get(account)
        if keys is None:
            keys = self._keys[account] = set()
        if key in keys or len(keys) >= self.config.max_keys_per_account:
            return False
        if key[0] == "network" and (
            sum(1 for kind, _ in keys if kind == "network") >= self.config.max_network_keys
        ):
            return False
        keys.add(key)
        holders = self._holders.setdefault(key, [])
        weights, threshold = self.config.weights, self.config.link_threshold
        # Every holder holds ``key``; most share nothing else, and then this key alone decides.
        alone = weights.get(key[0], 0.0) >= threshold
        linked = False
        for other in holders[-self.config.candidates_per_key :]:
            common = keys & self._keys.get(other, _NO_KEYS)
            if len(common) == 1:
                if alone:
                    self._union(account, other, [key[0]])
                    linked = True
                continue
            # Each kind of evidence counts once: two shared scaffolds are still one kind.
            kinds = sorted({kind for kind, _ in common})
            if sum(weights.get(k, 0.0) for k in kinds) >= threshold:
                self._union(account, other, kinds)
                linked = True
        if len(holders) < self.config.max_accounts_per_key:
            holders.append(account)
        return linked

    def keys_of(self, account: str) -> set[Key]:
        return self._keys.get(account, set())

    def record(
        self, account: str, ts: float, harvest: float, capability: str, templated: bool
    ) -> tuple[str, CampaignStats]:
        """Count one request to the account's campaign; the campaign (root, stats)."""
        root = self.root(account)
        stats = self.stats(root)
        if stats.requests == 0:
            stats.first_ts = ts
        stats.requests += 1
        stats.harvest += harvest
        stats.templated += templated
        stats.last_ts = ts
        stats.capabilities[capability] += 1
        return root, stats
