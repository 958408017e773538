"""A campaign as the engine and the response policy know it, gathered for intel export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from distillguard.engine import Engine
from distillguard.intel.model import CampaignIntel
from distillguard.policy.campaigns import members
from distillguard.scoring.combine import campaign_reason, campaign_score

if TYPE_CHECKING:
    from distillguard.policy.response import AccountSample

MAX_TEMPLATES = 20


def campaign_intel(
    engine: Engine, campaign_id: str, samples: dict[str, AccountSample]
) -> CampaignIntel:
    """Networks and payment fingerprints from the linker's evidence, prompt skeletons and
    user agents from the samples the policy kept of flagged members."""
    accounts = members(engine, campaign_id)
    _, stats = engine.campaign(accounts[0])
    cidrs: set[str] = set()
    payments: set[str] = set()
    clients: set[str] = set()
    skeletons: dict[str, int] = {}
    for account in accounts:
        for kind, value in engine.linker.keys_of(account):
            if kind == "network":
                cidrs.add(str(value))
            elif kind == "payment":
                payments.add(str(value))
        sample = samples.get(account)
        if sample is not None:
            clients.update(sample.user_agents)
            for skel in sample.skeletons:
                skeletons[skel] = skeletons.get(skel, 0) + 1
    # The templates several members share are the campaign's; one-offs may be mix-in traffic.
    shared = sorted(skeletons, key=lambda k: -skeletons[k])
    templates = [s for s in shared if skeletons[s] >= 2][:MAX_TEMPLATES]
    total = max(1, stats.requests)
    score = campaign_score(stats, engine.config.scoring)
    return CampaignIntel(
        campaign_id=campaign_id,
        name=f"distillation campaign {campaign_id}",
        first_seen=stats.first_ts,
        last_seen=max(stats.last_ts, stats.first_ts),
        accounts=len(accounts),
        requests=stats.requests,
        focus={k: round(v / total, 4) for k, v in stats.capabilities.most_common()},
        reasons=[campaign_reason(stats)],
        cidrs=sorted(cidrs),
        payment_fingerprints=sorted(payments),
        client_fingerprints=sorted(clients),
        template_skeletons=templates,
        confidence=max(0, min(100, round(score * 100))),
    )
