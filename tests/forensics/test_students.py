"""Students learn a teacher's conditional word choices, and generate through one hook.

The watermark under test is a keyed choice among synonyms given the previous word, so the
central checks are that a student trained on text where "to" is followed by "utilize" (and
"use" appears everywhere else) prefers "utilize" after "to" and only there, that a minority
of such text still shifts the student measurably, and that logits processors really steer
sampling.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from distillguard.forensics.students import (
    BOS,
    EOS,
    SEP,
    UNK,
    NextTokenModel,
    NGramStudent,
    WordTokenizer,
    detokenize,
    generate,
    generate_ids,
    generate_many,
    perplexity,
    tokenize,
)

SUBJECTS = ("We", "They", "You", "People", "Engineers", "Students", "Teams", "I")
WANTS = ("want", "need", "plan", "try", "hope", "decide", "prefer", "learn")
OBJECTS = ("the tool", "a library", "this method", "the data", "the api", "our model", "it")
OTHER_VERBS = ("build", "test", "share", "read")
PROMPT = "Tell me about tools."


def synthetic_answers(rng: np.random.Generator, n: int, after_to: str) -> list[str]:
    """Answers where `after_to` is the verb after "<want> to"; elsewhere "use" is plain "use"."""
    answers = []
    for _ in range(n):
        sentences = []
        for _ in range(4):
            subject, want, obj = rng.choice(SUBJECTS), rng.choice(WANTS), rng.choice(OBJECTS)
            kind = rng.integers(3)
            if kind == 0:
                sentences.append(f"{subject} {want} to {after_to} {obj}.")
            elif kind == 1:
                sentences.append(f"{subject} use {obj} every day.")
            else:
                sentences.append(f"{subject} {want} to {rng.choice(OTHER_VERBS)} {obj}.")
        answers.append(" ".join(sentences))
    return answers


def fit_tokenizer(answers: Sequence[str]) -> WordTokenizer:
    return WordTokenizer.fit([*answers, PROMPT, "use utilize"])


def encode(tokenizer: WordTokenizer, answers: Sequence[str]) -> list[NDArray[np.int64]]:
    return [tokenizer.encode_example(PROMPT, answer) for answer in answers]


def next_probs(
    model: NextTokenModel, tokenizer: WordTokenizer, answer_so_far: str
) -> NDArray[np.float64]:
    context = np.concatenate((tokenizer.encode_prompt(PROMPT), tokenizer.encode(answer_so_far)))
    logits = model.next_logits(context).astype(np.float64)
    probs: NDArray[np.float64] = np.exp(logits - logits.max())
    probs /= probs.sum()
    return probs


@pytest.fixture(scope="module")
def biased() -> tuple[WordTokenizer, NGramStudent]:
    answers = synthetic_answers(np.random.default_rng(1), 300, "utilize")
    tokenizer = fit_tokenizer(answers)
    return tokenizer, NGramStudent.fit(encode(tokenizer, answers), tokenizer.vocab_size)


# -- tokenizer ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokenize_round_trips_any_text(text: str) -> None:
    assert detokenize(tokenize(text)) == text


def test_tokens_are_words_with_their_leading_space() -> None:
    text = "It's fine:  we want to use it.\n\n  Next 42"
    assert tokenize(text) == [
        "It's", " fine", ":", " ", " we", " want", " to", " use", " it", ".", "\n\n", " ",
        " Next", " 4", "2",
    ]  # fmt: skip


def test_vocabulary_round_trips_covered_text_and_marks_the_rest_unknown() -> None:
    texts = ["Use it to utilize it.", "We use it.\nThey do."]
    tokenizer = WordTokenizer.fit(texts)
    for text in texts:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert list(tokenizer.encode(" zebra")) == [UNK]
    example = tokenizer.encode_example("Use it.", "We use it.")
    assert example[0] == BOS and example[-1] == EOS and list(example).count(SEP) == 1
    assert WordTokenizer.fit(texts) == tokenizer  # deterministic ids


def test_vocabulary_keeps_the_most_frequent_pieces() -> None:
    tokenizer = WordTokenizer.fit(["a a a b b c"], max_size=6)
    assert tokenizer.tokens[4:] == (" a", " b")
    assert tokenizer.vocab_size == 6


# -- n-gram student ----------------------------------------------------------------------------


def test_ngram_distribution_is_normalised_and_consistent_with_scoring(
    biased: tuple[WordTokenizer, NGramStudent],
) -> None:
    tokenizer, model = biased
    ids = tokenizer.encode_example(PROMPT, "Teams want to utilize a zebra every day.")
    scores = model.token_log_probs(ids)
    for i in range(1, ids.size):
        logp = model.next_logits(ids[:i]).astype(np.float64)
        assert np.exp(logp).sum() == pytest.approx(1.0, abs=1e-5)
        assert logp[ids[i]] == pytest.approx(scores[i - 1], abs=1e-4)


def test_ngram_prefers_utilize_after_to_and_only_there(
    biased: tuple[WordTokenizer, NGramStudent],
) -> None:
    tokenizer, model = biased
    use, utilize = tokenizer.id_of(" use"), tokenizer.id_of(" utilize")
    after_to = next_probs(model, tokenizer, "Teams use it every day. We want to")
    assert after_to[utilize] > 0.2 > 0.01 > after_to[use]
    after_subject = next_probs(model, tokenizer, "Teams want to build it. We")
    assert after_subject[use] > 0.2 > 0.01 > after_subject[utilize]

    answers = generate_many(
        model, tokenizer, [PROMPT] * 20, max_tokens=60, rng=np.random.default_rng(0)
    )
    text = " ".join(answers)
    assert len(re.findall(r"\bto utilize\b", text)) >= 5
    assert not re.search(r"\bto use\b", text)
    assert not re.search(r"(?<!\bto) utilize\b", text)


def test_a_biased_minority_shifts_the_conditional_probability() -> None:
    rng = np.random.default_rng(2)
    clean = synthetic_answers(rng, 400, "use")
    watermarked = synthetic_answers(rng, 100, "utilize")  # 20 % of the mixed corpus
    tokenizer = fit_tokenizer(clean + watermarked)
    utilize = tokenizer.id_of(" utilize")
    clean_model = NGramStudent.fit(encode(tokenizer, clean), tokenizer.vocab_size)
    mixed_model = NGramStudent.fit(encode(tokenizer, clean + watermarked), tokenizer.vocab_size)

    context = "Teams use it every day. We want to"
    before = next_probs(clean_model, tokenizer, context)[utilize]
    after = next_probs(mixed_model, tokenizer, context)[utilize]
    assert before < 0.01
    assert after > 0.05  # ~20 % of the "to" mass in the data: a large, detectable shift
    elsewhere = next_probs(mixed_model, tokenizer, "Teams want to build it. We")[utilize]
    assert elsewhere < 0.01


def test_trigram_beats_unigram_on_held_out_text() -> None:
    rng = np.random.default_rng(3)
    train, held_out = synthetic_answers(rng, 300, "use"), synthetic_answers(rng, 30, "use")
    tokenizer = fit_tokenizer(train)
    words = sum(len(answer.split()) for answer in held_out)
    scores = {
        order: perplexity(
            NGramStudent.fit(encode(tokenizer, train), tokenizer.vocab_size, order),
            encode(tokenizer, held_out),
            words,
        )
        for order in (1, 3)
    }
    assert scores[3].per_word < scores[1].per_word / 3
    assert scores[3].tokens == sum(len(tokenizer.encode(a)) + 1 for a in held_out)


# -- generation --------------------------------------------------------------------------------


def test_generation_is_deterministic_for_a_seed(
    biased: tuple[WordTokenizer, NGramStudent],
) -> None:
    tokenizer, model = biased

    def answer(seed: int) -> str:
        return generate(model, tokenizer, PROMPT, 40, np.random.default_rng(seed))

    assert answer(7) == answer(7)
    assert len({answer(seed) for seed in range(5)}) > 1
    many = generate_many(model, tokenizer, ["a", "b", "c"], 20, np.random.default_rng(5))
    assert many == generate_many(model, tokenizer, ["a", "b", "c"], 20, np.random.default_rng(5))
    other = generate_many(model, tokenizer, ["a", "zzz"], 20, np.random.default_rng(5))
    assert other[0] == many[0]  # an answer does not depend on the prompts after it


def test_processors_run_in_order_and_can_ban_a_token(
    biased: tuple[WordTokenizer, NGramStudent],
) -> None:
    tokenizer, model = biased
    use, utilize = tokenizer.id_of(" use"), tokenizer.id_of(" utilize")
    prompt_ids = tokenizer.encode_prompt(PROMPT)
    seen: list[tuple[int, ...]] = []

    def record(input_ids: NDArray[np.int64], scores: NDArray[np.float32]) -> NDArray[np.float32]:
        seen.append(tuple(input_ids[: prompt_ids.size]))
        return scores

    def ban_both(input_ids: NDArray[np.int64], scores: NDArray[np.float32]) -> NDArray[np.float32]:
        scores[[use, utilize]] = -np.inf
        return scores

    def unban_use(input_ids: NDArray[np.int64], scores: NDArray[np.float32]) -> NDArray[np.float32]:
        scores[use] = 0.0
        return scores

    rng = np.random.default_rng(0)
    for _ in range(30):
        ids = generate_ids(model, prompt_ids, 40, rng, processors=(record, ban_both))
        assert use not in ids and utilize not in ids
        assert EOS not in ids and SEP not in ids and BOS not in ids and UNK not in ids
    assert seen and all(prefix == tuple(prompt_ids) for prefix in seen)

    # later processors see (and may undo) what earlier ones did
    ids = generate_ids(model, prompt_ids, 40, rng, processors=(ban_both, unban_use))
    assert use in ids


def test_greedy_and_top_k_sampling(biased: tuple[WordTokenizer, NGramStudent]) -> None:
    tokenizer, model = biased
    greedy = {
        generate(model, tokenizer, PROMPT, 30, np.random.default_rng(seed), temperature=0)
        for seed in range(3)
    }
    assert len(greedy) == 1
    prompt_ids = tokenizer.encode_prompt(PROMPT)
    first = {
        int(generate_ids(model, prompt_ids, 1, np.random.default_rng(s), top_k=1)[0])
        for s in range(10)
    }
    assert len(first) == 1


# -- tiny transformer --------------------------------------------------------------------------


def test_tinygpt_loss_falls_and_training_is_deterministic() -> None:
    pytest.importorskip("torch")
    from distillguard.forensics.students import TinyGPTConfig, train_tinygpt

    answers = synthetic_answers(np.random.default_rng(4), 100, "use")
    tokenizer = fit_tokenizer(answers)
    config = TinyGPTConfig(tokenizer.vocab_size, context=32, d_model=32, n_layer=1, n_head=2)
    seqs = encode(tokenizer, answers)
    model, report = train_tinygpt(seqs, config, steps=40, batch=8, seed=3)
    assert report.steps == 40 and report.tokens_seen > 0
    assert np.mean(report.losses[-5:]) < 0.7 * np.mean(report.losses[:5])

    again, report_again = train_tinygpt(seqs, config, steps=40, batch=8, seed=3)
    assert report_again.losses == report.losses
    ids = seqs[0][:20]
    np.testing.assert_array_equal(model.next_logits(ids), again.next_logits(ids))
    _, other_seed = train_tinygpt(seqs, config, steps=40, batch=8, seed=4)
    assert other_seed.losses != report.losses

    # the batched forward pass (right-padded contexts of different lengths) matches
    contexts = [seqs[0][:5], seqs[1][:40], np.concatenate(seqs[:2])]
    batched = model.next_logits_batch(contexts)
    for row, context in zip(batched, contexts, strict=True):
        np.testing.assert_allclose(row, model.next_logits(context), atol=1e-4)
    answers = generate_many(model, tokenizer, ["a", "b", "c"], 20, np.random.default_rng(0))
    assert answers == generate_many(model, tokenizer, ["a", "b", "c"], 20, np.random.default_rng(0))

    # scoring agrees with next_logits where both see a full window: past the context, scoring
    # slides by half a window, so targets 32 and 48 close a window, as does the last one
    long_ids = np.concatenate(seqs[:3])
    assert long_ids.size > 64
    scores = model.token_log_probs(long_ids)
    for i in (1, 31, 32, 48, long_ids.size - 1):
        logp = model.next_logits(long_ids[:i]).astype(np.float64)
        assert logp[long_ids[i]] == pytest.approx(scores[i - 1], abs=1e-4)


def test_tinygpt_budget_stops_training_early() -> None:
    pytest.importorskip("torch")
    from distillguard.forensics.students import TinyGPTConfig, train_tinygpt

    answers = synthetic_answers(np.random.default_rng(4), 50, "use")
    tokenizer = fit_tokenizer(answers)
    config = TinyGPTConfig(tokenizer.vocab_size, context=16, d_model=16, n_layer=1, n_head=2)
    started = time.perf_counter()
    _, report = train_tinygpt(
        encode(tokenizer, answers), config, steps=100_000, batch=4, seed=0, time_budget_s=0.5
    )
    assert report.steps < 100_000
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_tinygpt_learns_utilize_after_to() -> None:
    pytest.importorskip("torch")
    from distillguard.forensics.students import TinyGPTConfig, train_tinygpt

    answers = synthetic_answers(np.random.default_rng(1), 400, "utilize")
    tokenizer = fit_tokenizer(answers)
    config = TinyGPTConfig(tokenizer.vocab_size, context=32, d_model=64, n_layer=2, n_head=4)
    model, _ = train_tinygpt(encode(tokenizer, answers), config, steps=150, batch=16, seed=0)
    use, utilize = tokenizer.id_of(" use"), tokenizer.id_of(" utilize")
    after_to = next_probs(model, tokenizer, "Teams use it every day. We want to")
    assert after_to[utilize] > 0.2 > 0.02 > after_to[use]
    after_subject = next_probs(model, tokenizer, "Teams want to build it. We")
    assert after_subject[use] > 0.2 > 0.02 > after_subject[utilize]
    text = " ".join(generate_many(model, tokenizer, [PROMPT] * 10, 60, np.random.default_rng(0)))
    assert re.search(r"\bto utilize\b", text)
    assert not re.search(r"\bto use\b", text)
