"""Campaign intel to and from STIX 2.1 bundles, the format peer providers exchange.

Export writes the producer's Identity, one Campaign, one Indicator per network, hashed payment
or client fingerprint and prompt template, and an ``indicates`` Relationship from each indicator
to the campaign. Ids are uuid5 over the producer, our campaign id and the indicator value, and
timestamps come from the campaign, so exporting an unchanged campaign twice gives the same bytes,
and a peer sees a later export as a new version of the same objects rather than new objects.
(STIX says SDO ids SHOULD be UUIDv4; stable ids are worth that deviation.)

Payment and client fingerprints travel as SHA-256 digests in patterns on custom observable
types (``[x-distillguard-payment:sha256 = '...']``). A template travels as a MinHash signature
in a property extension defined by an ``extension-definition`` object; the pattern holds the
signature's digest, so a peer without the extension can still match it exactly.

Import is strict about what a bundle is (JSON, a bundle, STIX 2.1, valid patterns) and lenient
about what it holds: indicators we do not understand are counted and skipped.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import Any, Final

import stix2
from stix2.exceptions import STIXError
from stix2patterns.validator import run_validator

from distillguard.intel.fingerprint import (
    MINHASH_HASH,
    MINHASH_SCHEME,
    MINHASH_SEED,
    SHINGLING,
    HashKind,
    hash_value,
    signature_digest,
    template_minhash,
)
from distillguard.intel.model import CampaignIntel, IndicatorKind, PeerIndicator

# Namespace of every id we mint: changing it would orphan the indicators peers hold.
NAMESPACE: Final = uuid.UUID("0c2f6d0e-5a4b-5d33-9b6e-4f1f0b7a2c91")
AUTHOR: Final = "distillguard"  # the identity that defines our extension, whoever produces
DEFINED: Final = datetime(2025, 1, 1, tzinfo=UTC)  # identities and the extension never change

PAYMENT_TYPE: Final = "x-distillguard-payment"
CLIENT_TYPE: Final = "x-distillguard-client"
TEMPLATE_TYPE: Final = "x-distillguard-template"
TEMPLATE_EXTENSION_ID: Final = "extension-definition--" + str(
    uuid.uuid5(NAMESPACE, "extension|template-minhash|1")
)
# TODO(publish): serve the extension's JSON schema at this address before sharing bundles.
TEMPLATE_EXTENSION_SCHEMA: Final = (
    "https://distillguard.dev/stix/extensions/template-minhash/v1/schema.json"
)
DEFAULT_VALID_DAYS: Final = 30.0

_HASH_TYPES: Final[dict[str, tuple[IndicatorKind, HashKind]]] = {
    PAYMENT_TYPE: ("payment_sha256", "payment"),
    CLIENT_TYPE: ("client_sha256", "client"),
}
_KIND_NAMES: Final[dict[IndicatorKind, str]] = {
    "cidr": "network",
    "payment_sha256": "payment fingerprint (SHA-256)",
    "client_sha256": "client fingerprint (SHA-256)",
    "template_minhash": "prompt template (MinHash)",
}
# The one-comparison patterns we write; anything else a peer sends is skipped, not guessed at.
_PATTERN = re.compile(
    r"\[\s*(?P<type>[a-z0-9-]+):(?P<prop>[a-z0-9_]+)\s+(?P<op>=|ISSUBSET)\s+"
    r"'(?P<value>[^'\\]*)'\s*\]"
)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_VERSIONED_TYPES: Final = frozenset({"identity", "campaign", "indicator", "relationship"})


class IntelError(ValueError):
    """A bundle we cannot accept; the message names what is wrong, for the CLI to print."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    indicators: list[PeerIndicator]
    skipped: int  # indicators present but not usable here (other pattern forms, revoked, ...)


# export -----------------------------------------------------------------------------------
def export_bundle(
    intel: CampaignIntel,
    producer: str = AUTHOR,
    *,
    valid_days: float | None = DEFAULT_VALID_DAYS,
    num_perm: int = 128,
) -> Any:
    """A ``stix2.Bundle`` for one campaign; indicators expire ``valid_days`` after last_seen.

    Networks get re-assigned by clouds and proxy pools, hence an expiry by default.
    """
    if valid_days is not None and valid_days <= 0:
        raise ValueError("valid_days must be positive")
    created, modified = _ts(intel.first_seen), _ts(intel.last_seen)
    author = _identity(AUTHOR)
    identity = author if producer == AUTHOR else _identity(producer)
    campaign = stix2.Campaign(
        id="campaign--" + _uuid("campaign", producer, intel.campaign_id),
        created_by_ref=identity.id,
        created=created,
        modified=modified,
        name=_redact(intel.name, intel),
        description=_redact(_describe(intel), intel),
        objective="harvest model outputs to train another model (distillation)",
        first_seen=created,
        last_seen=modified,
        confidence=intel.confidence,
    )
    indicators = [
        stix2.Indicator(
            id="indicator--" + _uuid("indicator", producer, intel.campaign_id, kind, key),
            created_by_ref=identity.id,
            created=created,
            modified=modified,
            name=f"{campaign.name}: {_KIND_NAMES[kind]}",
            description=f"{_KIND_NAMES[kind].capitalize()} of campaign {campaign.name!r}.",
            indicator_types=["malicious-activity"],
            pattern=pattern,
            pattern_type="stix",
            valid_from=created,
            valid_until=None if valid_days is None else modified + timedelta(days=valid_days),
            confidence=intel.confidence,
            extensions=extensions,
        )
        for kind, key, pattern, extensions in _indicator_parts(intel, num_perm)
    ]
    relationships = [
        stix2.Relationship(
            id="relationship--" + _uuid("indicates", indicator.id, campaign.id),
            created_by_ref=identity.id,
            created=created,
            modified=modified,
            relationship_type="indicates",
            source_ref=indicator.id,
            target_ref=campaign.id,
        )
        for indicator in indicators
    ]
    objects: list[Any] = [author] if identity is author else [author, identity]
    if any("extensions" in indicator for indicator in indicators):
        objects.append(_template_extension(author.id))
    objects += [campaign, *indicators, *relationships]
    bundle_id = "bundle--" + _uuid("bundle", campaign.id, modified.isoformat())
    return stix2.Bundle(id=bundle_id, objects=objects)


def export_json(
    intel: CampaignIntel,
    producer: str = AUTHOR,
    *,
    valid_days: float | None = DEFAULT_VALID_DAYS,
    num_perm: int = 128,
) -> str:
    bundle = export_bundle(intel, producer, valid_days=valid_days, num_perm=num_perm)
    # stix2's own pretty printing sorts properties in time quadratic in the bundle size
    # (minutes for a few hundred indicators); indent the compact form, its order is kept.
    return json.dumps(json.loads(bundle.serialize()), indent=2, ensure_ascii=False)


def _indicator_parts(
    intel: CampaignIntel, num_perm: int
) -> list[tuple[IndicatorKind, str, str, dict[str, Any] | None]]:
    """(kind, stable key, pattern, extensions) for each distinct indicator, in input order."""
    parts: list[tuple[IndicatorKind, str, str, dict[str, Any] | None]] = []
    for network in dict.fromkeys(_network(c) for c in intel.cidrs):
        addr_type = "ipv6-addr" if ":" in network else "ipv4-addr"
        address, _, prefix = network.partition("/")
        if prefix in ("32", "128"):
            parts.append(("cidr", network, f"[{addr_type}:value = '{address}']", None))
        else:
            parts.append(("cidr", network, f"[{addr_type}:value ISSUBSET '{network}']", None))
    hashed = ((PAYMENT_TYPE, intel.payment_fingerprints), (CLIENT_TYPE, intel.client_fingerprints))
    for obj_type, raws in hashed:
        kind, hash_kind = _HASH_TYPES[obj_type]
        # Blank values identify nobody: they are dropped, not hashed.
        for digest in dict.fromkeys(hash_value(hash_kind, r) for r in raws if r.strip()):
            parts.append((kind, digest, f"[{obj_type}:sha256 = '{digest}']", None))
    skeletons = (s for s in intel.template_skeletons if s.split())
    for signature in dict.fromkeys(template_minhash(s, num_perm) for s in skeletons):
        digest = signature_digest(signature)
        extensions = {
            TEMPLATE_EXTENSION_ID: {
                "extension_type": "property-extension",
                "minhash": list(signature),
                "num_perm": len(signature),
                "seed": MINHASH_SEED,
                "scheme": MINHASH_SCHEME,
                "hash": MINHASH_HASH,
                "shingling": SHINGLING,
            }
        }
        pattern = f"[{TEMPLATE_TYPE}:signature_sha256 = '{digest}']"
        parts.append(("template_minhash", digest, pattern, extensions))
    return parts


def _identity(name: str) -> Any:
    return stix2.Identity(
        id="identity--" + _uuid("identity", name),
        created=DEFINED,
        modified=DEFINED,
        name=name,
        identity_class="organization",
    )


def _template_extension(author_id: str) -> Any:
    return stix2.ExtensionDefinition(
        id=TEMPLATE_EXTENSION_ID,
        created_by_ref=author_id,
        created=DEFINED,
        modified=DEFINED,
        name="distillguard prompt-template MinHash",
        description=(
            "MinHash signature of a prompt template's skeleton (numbers, quotes, code, URLs "
            f"masked; lowercased), over {SHINGLING} shingles, datasketch scheme "
            f"{MINHASH_SCHEME} with {MINHASH_HASH} and seed {MINHASH_SEED}. Signatures "
            "compare by the share of equal positions (estimated Jaccard similarity)."
        ),
        schema=TEMPLATE_EXTENSION_SCHEMA,
        version="1.0.0",
        extension_types=["property-extension"],
    )


def _describe(intel: CampaignIntel) -> str:
    text = (
        f"{intel.accounts} accounts linked by shared evidence sent {intel.requests} requests "
        "harvesting model outputs for distillation."
    )
    if intel.focus:
        shares = sorted(intel.focus.items(), key=lambda kv: (-kv[1], kv[0]))
        text += " Focus: " + ", ".join(f"{cap} {share:.0%}" for cap, share in shares) + "."
    if intel.reasons:
        text += " Evidence: " + "; ".join(intel.reasons) + "."
    return text


def _redact(text: str, intel: CampaignIntel) -> str:
    """Free text from detectors may quote a raw value; none of them may leave in a bundle."""
    raws = [*intel.payment_fingerprints, *intel.client_fingerprints, *intel.template_skeletons]
    for raw in sorted({r.strip() for r in raws if r.strip()}, key=len, reverse=True):
        text = re.sub(re.escape(raw), "[redacted]", text, flags=re.IGNORECASE)
    return text


def _network(cidr: str) -> str:
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"not an IP network or address: {cidr!r}") from exc


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, json.dumps(parts)))


def _ts(unix: float) -> datetime:
    """Millisecond precision, STIX's default, so a round trip gives the same instant back."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=round(unix * 1000))


# import -----------------------------------------------------------------------------------
def import_bundle(source: str | PathLike[str]) -> list[PeerIndicator]:
    """The indicators we understand in a bundle: ``str`` is JSON text, a path is a file."""
    return read_bundle(source).indicators


def read_bundle(source: str | PathLike[str]) -> ImportResult:
    """Like ``import_bundle``, also counting the indicators skipped as not understood."""
    data = _load(source)
    _check_versions(data)
    try:
        bundle = stix2.parse(data, allow_custom=True, version="2.1")
    except (STIXError, ValueError, TypeError, KeyError) as exc:
        raise IntelError(f"invalid STIX 2.1 bundle: {exc}") from exc
    objects = list(bundle.get("objects", []))
    names = {o["id"]: o["name"] for o in objects if o["type"] in ("identity", "campaign")}
    indicates: dict[str, str] = {}
    for o in objects:
        if o["type"] == "relationship" and o["relationship_type"] == "indicates":
            indicates.setdefault(o["source_ref"], o["target_ref"])
    found: list[PeerIndicator] = []
    skipped = 0
    for o in objects:
        if o["type"] != "indicator":
            continue
        parsed = None if o.get("revoked") else _understand(o)
        if parsed is None:
            skipped += 1
            continue
        kind, value = parsed
        valid_until = o.get("valid_until")
        found.append(
            PeerIndicator(
                kind=kind,
                value=value,
                source=names.get(o.get("created_by_ref", "")),
                campaign=names.get(indicates.get(o["id"], "")),
                confidence=o.get("confidence"),
                valid_from=o["valid_from"].timestamp(),
                valid_until=None if valid_until is None else valid_until.timestamp(),
                indicator_id=o["id"],
            )
        )
    return ImportResult(found, skipped)


def _load(source: str | PathLike[str]) -> dict[str, Any]:
    if isinstance(source, str):
        text, where = source, "input"
    else:
        try:
            text, where = Path(source).read_text(encoding="utf-8"), str(source)
        except (OSError, UnicodeDecodeError) as exc:
            raise IntelError(f"cannot read {source}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntelError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise IntelError(f"not a STIX bundle: the JSON is a {type(data).__name__}, not an object")
    if data.get("type") != "bundle":
        raise IntelError(f"not a STIX bundle: top-level type is {data.get('type')!r}")
    if not isinstance(data.get("objects", []), list) or not all(
        isinstance(o, dict) for o in data.get("objects", [])
    ):
        raise IntelError("not a STIX bundle: 'objects' must be a list of JSON objects")
    return data


def _check_versions(data: dict[str, Any]) -> None:
    """Reject STIX 2.0 with a message that says so (stix2 would only report odd properties),
    and check every pattern first so an error names the indicator and the pattern."""
    if "spec_version" in data:  # 2.0 bundles carry it; 2.1 moved it onto the objects
        raise IntelError(f"STIX {data['spec_version']} bundle: only STIX 2.1 is supported")
    for o in data.get("objects", []):
        version = o.get("spec_version")
        # SCOs may omit spec_version in 2.1; the objects we read may not.
        required = o.get("type") in _VERSIONED_TYPES
        if version != "2.1" and (version is not None or required):
            found = "no spec_version" if version is None else f"spec_version {version!r}"
            raise IntelError(f"{o.get('id', o.get('type'))}: {found}, only STIX 2.1 is supported")
        if o.get("type") == "indicator" and o.get("pattern_type") == "stix":
            pattern = o.get("pattern")
            errors = run_validator(pattern, "2.1") if isinstance(pattern, str) else ["not text"]
            if errors:
                raise IntelError(f"{o.get('id')}: invalid STIX pattern {pattern!r}: {errors[0]}")


def _understand(indicator: Any) -> tuple[IndicatorKind, str | tuple[int, ...]] | None:
    """Kind and value of one of our pattern forms; None for anything else."""
    if indicator.get("pattern_type") != "stix":
        return None
    match = _PATTERN.fullmatch(indicator["pattern"].strip())
    if match is None:
        return None
    obj_type, prop, op, value = match.group("type", "prop", "op", "value")
    where = indicator["id"]
    if obj_type in ("ipv4-addr", "ipv6-addr") and prop == "value":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise IntelError(f"{where}: {value!r} is not an IP address or network") from exc
        if network.version != (4 if obj_type == "ipv4-addr" else 6):
            raise IntelError(f"{where}: {value!r} is not an {obj_type} value")
        return "cidr", str(network)
    if op != "=":
        return None
    if obj_type in _HASH_TYPES and prop == "sha256":
        if not _SHA256.fullmatch(value):
            raise IntelError(f"{where}: {value!r} is not a SHA-256 hex digest")
        return _HASH_TYPES[obj_type][0], value.lower()
    if obj_type == TEMPLATE_TYPE and prop == "signature_sha256":
        return _template(indicator, value.lower())
    return None


def _template(indicator: Any, digest: str) -> tuple[IndicatorKind, tuple[int, ...]] | None:
    ext = (indicator.get("extensions") or {}).get(TEMPLATE_EXTENSION_ID)
    if ext is None:
        return None  # the digest alone cannot find near matches
    scheme = (ext.get("seed"), ext.get("scheme"), ext.get("hash"), ext.get("shingling"))
    if scheme != (MINHASH_SEED, MINHASH_SCHEME, MINHASH_HASH, SHINGLING):
        return None  # computed another way: comparing would be meaningless
    values = ext.get("minhash")
    if not isinstance(values, list) or not all(type(v) is int for v in values):
        raise IntelError(f"{indicator['id']}: 'minhash' must be a list of integers")
    signature = tuple(values)
    try:
        actual = signature_digest(signature)
    except ValueError as exc:
        raise IntelError(f"{indicator['id']}: {exc}") from exc
    if actual != digest or ext.get("num_perm") != len(signature):
        raise IntelError(
            f"{indicator['id']}: MinHash signature does not match the pattern's digest "
            "or num_perm (corrupted or altered)"
        )
    return "template_minhash", signature
