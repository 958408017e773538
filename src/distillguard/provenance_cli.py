"""``distillguard provenance``: did a suspect model learn from our watermarked outputs?"""

from __future__ import annotations

import os
from pathlib import Path

import click
import orjson

from distillguard.forensics.detect import MAX_UNIT_WEIGHT
from distillguard.forensics.provenance import (
    ProvenanceError,
    ProvenanceReport,
    check_reference,
    default_prompts,
    default_reference,
    probe,
    read_prompts,
    read_texts,
    run_provenance,
)
from distillguard.forensics.synonyms import Lexicon, LexiconError

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--suspect-url", help="The suspect's OpenAI-compatible base URL (…/v1).")
@click.option("--model", help="The suspect model's id (with --suspect-url).")
@click.option("--suspect-texts", type=_FILE, help="Texts the suspect wrote (JSONL or lines).")
@click.option(
    "--secret-env",
    default="DISTILLGUARD_WATERMARK_SECRET",
    show_default=True,
    help="Environment variable holding the provider's watermark secret.",
)
@click.option("--accounts", type=_FILE, help="Candidate account ids, one per line.")
@click.option(
    "--lexicon", type=_FILE, help="The gateway's private lexicon (watermark.lexicon), if any."
)
@click.option("--prompts", type=_FILE, help="Probe prompts (default: held-out ShareGPT).")
@click.option(
    "--reference-texts",
    type=_FILE,
    help="Clean texts to calibrate the key on (default: held-out ShareGPT answers).",
)
@click.option(
    "--calibration-subsets",
    default=200,
    show_default=True,
    type=click.IntRange(min=0),
    help="Random subsets of the reference texts the key is tested on; 0: no calibration.",
)
@click.option("--probes", default=200, show_default=True, type=int)
@click.option("--max-tokens", default=400, show_default=True, type=int)
@click.option("--api-key-env", default="SUSPECT_API_KEY", show_default=True)
@click.option("--alpha", default=0.01, show_default=True, type=float)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="JSON report.")
def provenance(
    suspect_url: str | None,
    model: str | None,
    suspect_texts: Path | None,
    secret_env: str,
    accounts: Path | None,
    lexicon: Path | None,
    prompts: Path | None,
    reference_texts: Path | None,
    calibration_subsets: int,
    probes: int,
    max_tokens: int,
    api_key_env: str,
    alpha: float,
    out: Path | None,
) -> None:
    """Probe a suspect model (or read its texts) and test them for our watermark."""
    secret = os.environ.get(secret_env, "")
    if len(secret) < 16:
        raise click.UsageError(f"set {secret_env} to the watermark secret (16+ characters)")
    if (suspect_url is None) == (suspect_texts is None):
        raise click.UsageError(
            "give exactly one of --suspect-url (with --model) or --suspect-texts"
        )
    if not 0 < alpha < 1:
        raise click.UsageError("--alpha must be between 0 and 1")
    try:
        words = Lexicon.load(lexicon)
        reference: list[str] | None = None
        if calibration_subsets:  # read before probing: a bad file is said before any request
            reference = read_texts(reference_texts) if reference_texts else default_reference()
            check_reference(reference)
    except (LexiconError, ProvenanceError) as exc:
        raise click.UsageError(str(exc)) from exc
    candidates = []
    if accounts is not None:
        candidates = [a.strip() for a in accounts.read_text().splitlines() if a.strip()]
    try:
        if suspect_texts is not None:
            texts = read_texts(suspect_texts)
        else:
            if not model:
                raise click.UsageError("--suspect-url needs --model")
            asked = read_prompts(prompts)[:probes] if prompts else default_prompts(probes)
            click.echo(f"probing {model} at {suspect_url} with {len(asked)} prompts…", err=True)
            key = os.environ.get(api_key_env) or "none"
            texts = list(probe(str(suspect_url), model, asked, api_key=key, max_tokens=max_tokens))
        report = run_provenance(
            texts, secret.encode(), accounts=candidates, alpha=alpha, lexicon=words,
            reference=reference, subsets=calibration_subsets,
        )  # fmt: skip
    except ProvenanceError as exc:
        raise click.ClickException(str(exc)) from exc
    _print(report)
    if out is not None:
        out.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))


def _print(report: ProvenanceReport) -> None:
    e = report.provider
    click.echo(
        f"{report.texts} texts, {report.words:,} words; {e.n_scored} slot uses scored (each "
        f"distinct slot up to {MAX_UNIT_WEIGHT} times, on its most used word), {e.n_green} took "
        f"our key's choice (expected {e.expected_green:.1f} by chance)"
    )
    verdict = "TRAINED ON OUR OUTPUTS" if report.trained_on_ours else "no evidence"
    click.echo(f"provider key: z = {e.z:.2f}, p = {e.p_value:.3g} -> {verdict} at α={report.alpha}")
    c = report.calibration
    if c is not None:
        click.echo(
            f"key calibration: on {c.subsets} clean subsets of ~{c.subset_words:,} words the key "
            f"fired {c.false_positive_rate:.1%} of the time at α={c.alpha}; the suspect is "
            f"more significant than {c.beaten:.1%} of them (empirical p = "
            f"{c.empirical_p:.3g}, floor {1 / (c.subsets + 1):.3g})"
        )
        if c.smaller_than_suspect:
            click.echo(
                f"warning: the reference held too few words for subsets the suspect's size "
                f"({c.suspect_words:,}); the empirical p-value is optimistic"
            )
        if not c.key_is_calibrated:
            click.echo(
                "warning: this key fires on clean text more often than α; read the empirical "
                "p-value, not the exact one"
            )
    named = [f for f in report.accounts if f.named]
    if report.accounts:
        click.echo(f"accounts named ({len(named)} of {len(report.accounts)} tested, Holm):")
        for f in named:
            click.echo(
                f"  {f.account_id}: p = {f.evidence.p_value:.3g} (adjusted {f.adjusted_p:.3g})"
            )
