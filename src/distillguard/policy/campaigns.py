"""What an action on a campaign reaches: its accounts and the indicators they share.

A campaign id names the engine's current cluster. Its indicators (payment fingerprints,
prompt-template scaffolds, owned IP ranges, optionally client fingerprints) are copied into the
decisions store at the moment of the action, so a brand-new account that shows one of them is
caught on its first request, before the engine could link it ("the hydra regrows a head").
"""

from __future__ import annotations

from collections import defaultdict

from distillguard.engine import Engine, campaign_id_of
from distillguard.policy.rules import CampaignEnforcement


class UnknownCampaign(LookupError):
    pass


def members(engine: Engine, campaign_id: str) -> list[str]:
    for root, accounts in engine.campaign_roots().items():
        if campaign_id_of(root) == campaign_id:
            return sorted(accounts)
    raise UnknownCampaign(f"no campaign {campaign_id} (campaign ids change when clusters merge)")


def _network_holders(engine: Engine) -> dict[str, set[str]]:
    holders: dict[str, set[str]] = defaultdict(set)
    for account in engine.accounts:
        for kind, value in engine.linker.keys_of(account):
            if kind == "network":
                holders[str(value)].add(account)
    return holders


def indicators(
    engine: Engine, campaign_id: str, scope: CampaignEnforcement
) -> tuple[list[str], list[tuple[str, str]]]:
    """The campaign's accounts and the (target kind, target) pairs an action carries to."""
    accounts = members(engine, campaign_id)
    inside = set(accounts)
    found: set[tuple[str, str]] = {("account", a) for a in accounts}
    networks: set[str] = set()
    for account in accounts:
        for kind, value in engine.linker.keys_of(account):
            if kind == "payment" and scope.payment:
                found.add(("payment", str(value)))
            elif kind == "scaffold" and scope.templates and isinstance(value, int):
                found.add(("template", str(value)))
            elif kind == "signature" and scope.clients and isinstance(value, int):
                found.add(("client", f"{value:016x}"))
            elif kind == "network" and scope.networks != "off":
                networks.add(str(value))
    if networks and scope.networks == "owned":
        holders = _network_holders(engine)
        networks = {
            n
            for n in networks
            if holders.get(n, set()) <= inside
            and len(holders.get(n, ())) >= scope.min_network_accounts
        }
    found.update(("cidr", n) for n in networks)
    return accounts, sorted(found)
