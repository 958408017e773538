"""A text watermark a gateway applies to answers without access to the model's logits.

Wherever an answer uses a member of a synonym set ("it is" / "it's", "for example" / "for
instance"), the watermarker rewrites it to the member a keyed hash of (previous word, set)
picks. An unwatermarked text matches the keyed choice at chance (1/|set| per slot); a
watermarked one, and text copied or learnt from it, matches far more often (``detect.py``).

Rewrites keep the meaning: the sets are chosen and conditioned for it (``synonyms.yaml``),
capitalisation is carried over, and code, numbers, URLs and quotations are never touched
(``textscan.py``). Watermarking is idempotent, and ``StreamingWatermarker`` writes exactly what
``watermark`` writes for any split of the text into chunks, holding back only a partial word,
a possible phrase with the word after it, or a possible code fence marker.
"""

from __future__ import annotations

from distillguard.forensics.keys import TextKeys, green_index, slot_message
from distillguard.forensics.synonyms import Lexicon, SynonymSet
from distillguard.forensics.textscan import SlotScanner

__all__ = ["StreamingWatermarker", "TextWatermarker"]


class TextWatermarker:
    """Watermarks answers under one key set; cheap to build, safe to share between threads."""

    def __init__(self, lexicon: Lexicon, keys: TextKeys) -> None:
        self._lexicon = lexicon
        self._keys = keys

    @classmethod
    def from_secret(
        cls, lexicon: Lexicon, provider_secret: bytes, account_id: str | None = None
    ) -> TextWatermarker:
        return cls(lexicon, TextKeys.from_secret(provider_secret, account_id))

    def choose(self, context: str, entry: SynonymSet, index: int) -> int:
        """The member this key writes in a slot (``index``, the member found, is ignored)."""
        message = slot_message(context, entry.key)
        return green_index(self._keys.choice_key(message), message, len(entry.members))

    def watermark(self, text: str) -> str:
        stream = self.stream()
        return stream.feed(text) + stream.flush()

    def stream(self) -> StreamingWatermarker:
        """A watermarker for one streamed answer."""
        return StreamingWatermarker(self)

    def scanner(self) -> SlotScanner:
        return SlotScanner(self._lexicon, self.choose)


class StreamingWatermarker:
    """Watermarks one answer as it streams: ``feed`` each chunk, then ``flush`` once."""

    def __init__(self, watermarker: TextWatermarker) -> None:
        self._scanner = watermarker.scanner()

    def feed(self, chunk: str) -> str:
        """The watermarked text that ``chunk`` completes (possibly empty)."""
        return self._scanner.feed(chunk)

    def flush(self) -> str:
        """The rest, once the answer has ended."""
        return self._scanner.flush()

    @property
    def held(self) -> int:
        """Characters received but not yet released."""
        return self._scanner.held
