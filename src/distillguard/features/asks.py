"""Candidate asks: the short spans of a prompt that could be a request for the reasoning or
for a grade. A trigger scan and a split, run on every prompt; only the semantic layer
(``features.semantic``) embeds them, and only for a sample of each account's requests.

The trigger is one pattern of word stems. ``features.matcher`` scans for it with Hyperscan
(about 10 µs for a typical prompt, all matches at once); this module's ``re`` scan is the
portable fallback. Both run on the lowercased text: a case-insensitive ``re`` alternation costs
almost a millisecond per prompt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Final

# A span is a candidate only when it has a word an ask for reasoning or for grading needs:
# English stems first, then other languages' (the same meanings: step, reason, think,
# explain, why, how did you get, show; grade, score, better, judge, rank). The list was widened
# from the misses of the probe's training phrasings (``ask_training.yaml``), never from its
# evaluation set.
_STEMS: Final = (
    # English: reasoning
    r"step|walk|through|reason|think|thought|explain|expla|show|work|logic|process|approach"
    r"|part\b|stage|deriv|justif|how (?:you|did|would|to|do|does|is|come|so|exactly)|how'd"
    r"|why|detail|break|method|rational|calculat|solution|solv|arriv|figure|elaborat|unpack"
    r"|narrat|spell|outline|clarif|understand|each|every|line by line|talk me|teach|tutor"
    r"|intuition|idea|mind|head|brain|consider|along the way|follow|come from|what made you"
    r"|decid|conclu|infer|scratch|intermediate|chain|deduc|tally|replay|trace|aloud|out loud"
    # English: grading
    r"|grade|score|rate\b|rating|rubric|evaluat|assess|judg|criteri|better|best|prefer|rank"
    r"|pass\b|fail\b|compar|winner|chosen|rejected|thumbs|adjudicat|superior"
    # Romance, Germanic, Slavic, Turkish, Indonesian, Vietnamese, Greek, Hebrew, Arabic, Hindi
    r"|paso|razon|pens|expli|por qu|cómo|porque|pourquoi|comment|étape|raison|schritt|denk"
    r"|begründ|überleg|lösungsweg|erklär|warum|wie du|ragion|passo|passagg|perché|come hai"
    r"|raciocín|como você|por que|redener|stap|leg uit|waarom|resonemang|steg|förklara"
    r"|varför|tankar|рассужд|объясн|поясн|почему|чому|шаг|крок|покаж|промежуточ|проміжн"
    r"|міркуван|хід|ход|rozumow|wyjaśn|dlaczego|krok|pośredn|adım|açıkla|neden|düşün"
    r"|akıl|langkah|jelaskan|kenapa|mengapa|berpikir|penalaran|bước|giải thích|tại sao"
    r"|suy nghĩ|lập luận|βήμα|εξήγ|γιατί|συλλογισ|שלב|הסבר|תסביר|למה|חשיבה|خطو|اشرح|لماذا"
    r"|تفكير|चरण|समझा|क्यों|तर्क|सोच|ขั้นตอน|อธิบาย|ทำไม|คิด"
    r"|mejor|calific|puntú|puntu|evalú|meilleur|note |juge|bewert|besser|beurteil|valuta"
    r"|miglior|punteggio|giudic|avali|melhor|nota |beoordeel|beter|betygsätt|bäst|оцен|оціни"
    r"|лучше|краща|балл|oceń|lepsz|puan|daha iyi|nilai|chấm|điểm|βαθμολόγ|ציון|قيّم|أفضل"
    r"|अंक|बेहतर|คะแนน"
    # Chinese, Japanese, Korean (no spaces: characters, not stems)
    r"|步|推理|思考|理由|過程|过程|为什么|怎么|解释|說明|说明|推論|なぜ|どうやって|途中|段階|考え"
    r"|단계|추론|설명|왜|과정|어떻게|생각"
    r"|打分|评分|評分|更好|排序|评审|採点|優れ|評価|審査|채점|나은|평가|점수"
    # Widened again from the second writer's training phrasings the above missed: English
    # reasoning, English grading, then other languages.
    r"|prove|proof|basis|grounds|audit|trail|route|path from|behind|where did|where does"
    r"|where do|where's|where is|come from|came from|comes from|from where|source of|back that up"
    r"|back it up|in-between|skipp|fill in|the gap|line|bit\b|write out|lay it out|what happened"
    r"|rule out|ruled out|algebra|math|comput|heuristic|premise|analys|itemi|underlying|tipped"
    r"|settl|in what order|what did you|how tho|how\?|redo|go over|slower|slowly|carries|borrow"
    r"|mark\b|marks|points out of|out of \d|assign|award|credit|referee|wins|winner|reward|tier"
    r"|tournament|standings|more correct"
    r"|procedim|desarroll|desenvolv|método|méthode|metodo|metodolog|de dónde|de onde|d'où"
    r"|développement|woher|rechenweg|herleitung|darlegung|da dove|dimostra|giustific"
    r"|vandaan|uitwerk|onderbouw|gekomen|откуда|распиш|обоснуй|перешёл|звідки|розпиш"
    r"|обґрунт|перейшов|skąd|rozpisz|uzasadnij|przeszed|nereden|gerekçe|yöntem|依据|推导|从哪"
    r"|哪里来|根拠|解き方|どこから|근거|어디서|برّر|برر|من أين|الطريقة|انتقلت|कहाँ से|हल|कारण"
    r"|पहुँचे|dari mana|penyelesaian|alasan|caranya|bagaimana|từ đâu|lý do|phương pháp|làm sao"
    r"|évalu|notlandır|裁判|胜者|打.分|判定|승자|درجة|lebih baik"
)
TRIGGER_PATTERN: Final = _STEMS
_TRIGGER: Final = re.compile(TRIGGER_PATTERN)
# Parts end at sentence punctuation (kept with the part) followed by space, at line breaks,
# quotes and code fences: where r"[.?!:;]\s+|\n+|[\"“”«»]|```" matches. ``separators``
# finds them from the characters they start with (a character class), ~3x as fast as that
# alternation.
_SEPARATOR_START: Final = re.compile(r"[.?!:;\n\"“”«»`]")
_SPACE: Final = re.compile(r"\s+")
_NEWLINES: Final = re.compile(r"\n+")
_KEPT: Final = frozenset(".?!:;")
_DIGITS: Final = re.compile(r"\d+")
MIN_WORDS, MAX_WORDS = 2, 24
MAX_SPANS = 4


def normalise(span: str) -> str:
    return _DIGITS.sub("#", " ".join(span.split()).casefold())


def _words(part: str) -> int:
    """Words in ``part``; a script written without spaces (Chinese, Japanese, Thai) counts a
    word per three characters."""
    words = len(part.split())
    if words < MIN_WORDS and not part.isascii():
        return max(words, len(part.strip()) // 3)
    return words


def trigger_ends(lowered: str) -> list[int]:
    """Where in ``lowered`` (lowercased text) trigger words end, in characters, ascending."""
    return [m.end() for m in _TRIGGER.finditer(lowered)]


def ask_spans(text: str) -> tuple[str, ...]:
    """The short spans of ``text`` that could be an ask (normalised), at most ``MAX_SPANS``:
    with more, the first and the last ones."""
    lowered = text.lower()
    return spans_at(lowered, trigger_ends(lowered))


def separators(text: str) -> Iterator[tuple[int, int]]:
    """Where the separator pattern (above) matches in ``text`` (start, end), in order, as
    its ``finditer`` would."""
    search, at = _SEPARATOR_START.search, 0
    while (found := search(text, at)) is not None:
        start = found.start()
        char = text[start]
        end = -1
        if char in _KEPT:
            space = _SPACE.match(text, start + 1)
            if space is not None:
                end = space.end()
        elif char == "\n":
            newlines = _NEWLINES.match(text, start)
            end = newlines.end() if newlines is not None else start + 1
        elif char != "`":
            end = start + 1
        elif text.startswith("```", start):
            end = start + 3
        if end < 0:  # no separator starts here
            at = start + 1
        else:
            yield start, end
            at = end


def spans_at(lowered: str, ends: Sequence[int]) -> tuple[str, ...]:
    """The candidate spans of ``lowered`` given where its trigger words end (``ends``)."""
    if not ends:
        return ()
    found: list[str] = []
    start, i, count = 0, 0, len(ends)
    for sep in chain(separators(lowered), (None,)):
        if sep is None:
            stop = len(lowered)
        else:
            stop = sep[0]
            stop += lowered[stop] in _KEPT
        # The triggers that end inside this part (a trigger never spans a separator).
        hit = False
        while i < count and ends[i] <= stop:
            hit = hit or ends[i] > start
            i += 1
        if hit:
            part = lowered[start:stop]
            if MIN_WORDS <= _words(part) <= MAX_WORDS:
                span = normalise(part)
                if span not in found:
                    found.append(span)
        if i == count or sep is None:
            break
        start = sep[1]
    if len(found) > MAX_SPANS:  # an ask opens or closes a prompt; the middle is the content
        found = found[: MAX_SPANS // 2] + found[-(MAX_SPANS - MAX_SPANS // 2) :]
    return tuple(found)
