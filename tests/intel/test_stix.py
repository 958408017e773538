from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distillguard.features.text import skeleton
from distillguard.intel.fingerprint import hash_value, template_minhash
from distillguard.intel.model import CampaignIntel
from distillguard.intel.stix import (
    IntelError,
    export_bundle,
    export_json,
    import_bundle,
    read_bundle,
)

PAYMENT = "pm_Zq81cafe0042beef"
CLIENT = "HydraHarvester/2.3 (OpenAI-Python 1.40.0)"
PROMPTS = [
    "Solve step by step: a train leaves at 14:05 going 87 km/h. Show all your reasoning and "
    "give the final answer as JSON with keys 'steps' and 'answer'.",
    "You are an expert Python tutor. Write a function that parses the log below and explain "
    "every design choice in detail before giving the code.\n```\nERROR 42 at line 7\n```",
]


def _intel(**changes: Any) -> CampaignIntel:
    fields: dict[str, Any] = {
        "campaign_id": "acct-0193",
        "name": "hydra-7",
        "first_seen": 1_700_000_000.25,
        "last_seen": 1_700_086_400.5,
        "accounts": 41,
        "requests": 9_120,
        "focus": {"reasoning": 0.62, "coding": 0.38},
        # Detector reasons may quote raw values: export must redact them.
        "reasons": [f"41 accounts share payment {PAYMENT}", f"client {CLIENT} on 39 accounts"],
        "cidrs": ["203.0.113.0/24", "2001:db8:42::/48", "198.51.100.7", "203.0.113.0/24"],
        "payment_fingerprints": [PAYMENT, f"  {PAYMENT} "],
        "client_fingerprints": [CLIENT],
        "template_skeletons": [skeleton(p) for p in PROMPTS],
        "confidence": 85,
    }
    fields.update(changes)
    return CampaignIntel(**fields)


def test_round_trip_recovers_every_indicator() -> None:
    intel = _intel()
    result = read_bundle(export_json(intel, producer="acme-ai"))
    assert result.skipped == 0
    by_kind: dict[str, set[object]] = {}
    for ind in result.indicators:
        by_kind.setdefault(ind.kind, set()).add(ind.value)
        assert ind.source == "acme-ai"
        assert ind.campaign == "hydra-7"
        assert ind.confidence == 85
        assert ind.valid_from == pytest.approx(intel.first_seen, abs=1e-3)
        assert ind.valid_until == pytest.approx(intel.last_seen + 30 * 86400, abs=1e-3)
        assert ind.indicator_id.startswith("indicator--")
    assert by_kind == {
        "cidr": {"203.0.113.0/24", "2001:db8:42::/48", "198.51.100.7/32"},
        "payment_sha256": {hash_value("payment", PAYMENT)},
        "client_sha256": {hash_value("client", CLIENT)},
        "template_minhash": {template_minhash(s) for s in intel.template_skeletons},
    }
    assert len(result.indicators) == 7  # duplicates collapse to one indicator each


def test_bundle_shape() -> None:
    bundle = json.loads(export_json(_intel(), producer="acme-ai"))
    types = [o["type"] for o in bundle["objects"]]
    assert types.count("identity") == 2  # producer, and distillguard defining the extension
    assert types.count("extension-definition") == 1
    assert types.count("campaign") == 1
    assert types.count("indicator") == types.count("relationship") == 7
    patterns = {o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert "[ipv4-addr:value ISSUBSET '203.0.113.0/24']" in patterns
    assert "[ipv6-addr:value ISSUBSET '2001:db8:42::/48']" in patterns
    assert "[ipv4-addr:value = '198.51.100.7']" in patterns
    assert f"[x-distillguard-payment:sha256 = '{hash_value('payment', PAYMENT)}']" in patterns
    ext_def = next(o for o in bundle["objects"] if o["type"] == "extension-definition")
    assert ext_def["extension_types"] == ["property-extension"]
    templates = [o for o in bundle["objects"] if "extensions" in o and o["type"] == "indicator"]
    assert len(templates) == 2
    ext = templates[0]["extensions"][ext_def["id"]]
    assert ext["extension_type"] == "property-extension"
    assert len(ext["minhash"]) == ext["num_perm"] == 128
    campaign = next(o for o in bundle["objects"] if o["type"] == "campaign")
    rels = [o for o in bundle["objects"] if o["type"] == "relationship"]
    assert {r["relationship_type"] for r in rels} == {"indicates"}
    assert {r["target_ref"] for r in rels} == {campaign["id"]}


def test_default_producer_is_one_identity() -> None:
    bundle = export_bundle(_intel())
    assert [o["type"] for o in bundle.objects].count("identity") == 1


@pytest.mark.slow  # importing stix2validator alone takes ~5 s
def test_bundle_passes_stix2_validator() -> None:
    validator = pytest.importorskip("stix2validator")
    options = validator.ValidationOptions(
        version="2.1",
        strict=True,  # every SHOULD is an error...
        disabled="uuid-check",  # ...except UUIDv4 ids: ours are uuid5 on purpose (stable)
        enforce_refs=True,
        silent=True,
    )
    result = validator.validate_parsed_json(json.loads(export_json(_intel(), "acme-ai")), options)
    assert result.is_valid, [str(e) for e in result.errors]


def test_reexport_is_identical() -> None:
    assert export_json(_intel(), "acme-ai") == export_json(_intel(), "acme-ai")
    later = json.loads(export_json(_intel(last_seen=1_700_200_000.0), "acme-ai"))
    first = json.loads(export_json(_intel(), "acme-ai"))
    # A later export is a new version of the same objects: same ids, newer "modified".
    assert [o["id"] for o in later["objects"]] == [o["id"] for o in first["objects"]]
    campaign = next(o for o in later["objects"] if o["type"] == "campaign")
    assert campaign["modified"] > campaign["created"]


def test_producers_do_not_share_ids() -> None:
    ours = {o["id"] for o in json.loads(export_json(_intel(), "acme-ai"))["objects"]}
    theirs = {o["id"] for o in json.loads(export_json(_intel(), "other-ai"))["objects"]}
    shared = {i.split("--")[0] for i in ours & theirs}
    assert shared == {"identity", "extension-definition"}  # the extension's author only


def test_no_raw_values_leak() -> None:
    intel = _intel()
    text = export_json(intel, "acme-ai").lower()
    raws = [PAYMENT, CLIENT, *PROMPTS, *intel.template_skeletons]
    for raw in raws:
        assert raw.lower() not in text
    # Nor recognisable pieces of the prompts: no 4-word run of a skeleton survives.
    for skel in intel.template_skeletons:
        words = skel.split()
        for i in range(len(words) - 3):
            assert " ".join(words[i : i + 4]) not in text
    assert "[redacted]" in text  # the reasons quoted both raw values


def test_import_from_path(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(export_json(_intel(), "acme-ai"), encoding="utf-8")
    assert len(import_bundle(path)) == 7
    with pytest.raises(IntelError, match="cannot read"):
        import_bundle(tmp_path / "missing.json")


def _bundle(*objects: dict[str, Any], **top: Any) -> str:
    return json.dumps(
        {
            "type": "bundle",
            "id": "bundle--6f2e8c49-1f8a-4c55-9a5e-2f1b6f0c3d11",
            **top,
            "objects": list(objects),
        }
    )


def _indicator(pattern: str, **changes: Any) -> dict[str, Any]:
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2024-05-01T00:00:00.000Z",
        "modified": "2024-05-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-05-01T00:00:00Z",
    }
    obj.update(changes)
    return obj


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON is a list"),
        (json.dumps(_indicator("[ipv4-addr:value = '1.2.3.4']")), "top-level type is 'indicator'"),
        (
            _bundle(_indicator("[ipv4-addr:value = '1.2.3.4']"), spec_version="2.0"),
            "STIX 2.0 bundle",
        ),
        (
            _bundle(
                {
                    k: v
                    for k, v in _indicator("[ipv4-addr:value = '1.2.3.4']").items()
                    if k != "spec_version"
                }
            ),
            "no spec_version, only STIX 2.1",
        ),
        (_bundle(_indicator("[ipv4-addr:value = '1.2.3.4'")), "invalid STIX pattern"),
        (_bundle(_indicator("[ipv4-addr:value === '1.2.3.4']")), "invalid STIX pattern"),
        (
            _bundle(_indicator("[ipv4-addr:value = '1.2.3.4']", valid_from="yesterday")),
            "invalid STIX 2.1 bundle",
        ),
        (_bundle(_indicator("[ipv4-addr:value = '2001:db8::1']")), "not an ipv4-addr value"),
        (_bundle(_indicator("[x-distillguard-payment:sha256 = 'abc']")), "not a SHA-256"),
    ],
)
def test_invalid_bundles_rejected(text: str, message: str) -> None:
    with pytest.raises(IntelError, match=message):
        import_bundle(text)


def test_bad_pattern_error_names_indicator() -> None:
    with pytest.raises(IntelError) as info:
        import_bundle(_bundle(_indicator("[ipv4-addr:value = '1.2.3.4'")))
    assert "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f" in str(info.value)


def test_altered_template_signature_rejected() -> None:
    bundle = json.loads(export_json(_intel(), "acme-ai"))
    template = next(o for o in bundle["objects"] if "extensions" in o)
    ext = next(iter(template["extensions"].values()))
    ext["minhash"][0] ^= 1
    with pytest.raises(IntelError, match="does not match"):
        import_bundle(json.dumps(bundle))


def test_unknown_indicators_skipped_and_counted() -> None:
    text = _bundle(
        _indicator("[domain-name:value = 'example.com']"),
        _indicator(
            "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']",
            id="indicator--2b0c8c1e-5d8e-4f0e-9a53-1c3e7b0a9f21",
        ),
        _indicator(
            'alert tcp any any -> any any (msg:"x";)',
            id="indicator--c6d5b3a0-6b5e-4b8f-8f2c-3d8a9e1f7b42",
            pattern_type="snort",
        ),
        _indicator(
            "[ipv4-addr:value = '1.2.3.4']", id="indicator--0a7f6e7c-2c1d-4e3b-9f8a-6b5c4d3e2f10"
        ),
    )
    result = read_bundle(text)
    assert result.skipped == 3
    assert [(i.kind, i.value, i.source, i.campaign) for i in result.indicators] == [
        ("cidr", "1.2.3.4/32", None, None)
    ]


def test_empty_values_are_not_exported() -> None:
    intel = _intel(payment_fingerprints=["  "], client_fingerprints=[""], template_skeletons=[" "])
    kinds = {i.kind for i in import_bundle(export_json(intel))}
    assert kinds == {"cidr"}


def test_large_bundle_round_trips() -> None:
    # stix2's pretty printer is quadratic (a minute for this size); export must not use it.
    cidrs = [f"10.{k // 256}.{k % 256}.0/24" for k in range(300)]
    found = import_bundle(export_json(_intel(cidrs=cidrs, template_skeletons=[])))
    assert sum(i.kind == "cidr" for i in found) == 300
