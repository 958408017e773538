"""Stock phrases per language for simulated answers and reasoning written in the user's language.

A multilingual harvest asks the model to reason in the prompt's language, so the simulated
reasoning and worked solution must be in that language too (recorded data is English). These are
fixed phrase sets wrapped around the recorded answer, never generated text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class Lang:
    name: str  # English name, for templates that ask for reasoning "in {language}"
    opening: str
    thoughts: tuple[str, ...]
    step: str  # "{n}" is the step number
    final: str  # "{gold}" is the final answer
    compute: str  # a localised arithmetic task; "{expr}" is the expression


LANGS: Final[Mapping[str, Lang]] = MappingProxyType(
    {
        "en": Lang(
            "English",
            "Okay, let me read the problem first.",
            (
                "First I need to pin down what is given.",
                "Now let me connect these pieces.",
                "Let me double-check that step.",
                "I have to be careful with the arithmetic here.",
            ),
            "Step {n}",
            "Final answer: {gold}",
            "Compute: {expr}",
        ),
        "zh": Lang(
            "Chinese",
            "好的，我先读一下题目。",
            (
                "首先，我需要弄清楚题目给出的条件。",
                "接下来，把这些条件联系起来。",
                "我再检查一下这一步是否正确。",
                "嗯，这里需要小心计算。",
            ),
            "第{n}步",
            "最终答案：{gold}",
            "计算：{expr}",
        ),
        "ru": Lang(
            "Russian",
            "Хорошо, сначала прочитаю условие.",
            (
                "Сначала нужно понять, что дано.",
                "Теперь свяжу эти данные между собой.",
                "Проверю ещё раз этот шаг.",
                "Здесь нужно аккуратно посчитать.",
            ),
            "Шаг {n}",
            "Ответ: {gold}",
            "Вычисли: {expr}",
        ),
        "es": Lang(
            "Spanish",
            "Bien, primero leo el enunciado.",
            (
                "Primero necesito entender qué datos tengo.",
                "Ahora relaciono los datos entre sí.",
                "Voy a comprobar este paso otra vez.",
                "Aquí hay que calcular con cuidado.",
            ),
            "Paso {n}",
            "Respuesta final: {gold}",
            "Calcula: {expr}",
        ),
        "ar": Lang(
            "Arabic",
            "حسنًا، سأقرأ المسألة أولًا.",
            (
                "أولًا، أحتاج إلى فهم المعطيات.",
                "الآن أربط هذه المعطيات ببعضها.",
                "سأتحقق من هذه الخطوة مرة أخرى.",
                "هنا يجب أن أحسب بعناية.",
            ),
            "الخطوة {n}",
            "الإجابة النهائية: {gold}",
            "احسب: {expr}",
        ),
        "ko": Lang(
            "Korean",
            "좋아, 먼저 문제를 읽어 보자.",
            (
                "먼저 주어진 조건을 정리해야 한다.",
                "이제 조건들을 서로 연결해 보자.",
                "이 단계를 다시 확인해 보자.",
                "여기서는 계산을 조심해야 한다.",
            ),
            "{n}단계",
            "최종 답: {gold}",
            "계산하시오: {expr}",
        ),
        "ja": Lang(
            "Japanese",
            "まず問題文を読んでみます。",
            (
                "最初に、与えられた条件を整理します。",
                "次に、条件どうしを結びつけます。",
                "このステップをもう一度確認します。",
                "ここは慎重に計算する必要があります。",
            ),
            "ステップ{n}",
            "最終的な答え：{gold}",
            "計算せよ：{expr}",
        ),
        "de": Lang(
            "German",
            "Gut, zuerst lese ich die Aufgabe.",
            (
                "Zuerst muss ich verstehen, was gegeben ist.",
                "Jetzt verbinde ich die Angaben miteinander.",
                "Diesen Schritt prüfe ich noch einmal.",
                "Hier muss ich sorgfältig rechnen.",
            ),
            "Schritt {n}",
            "Endergebnis: {gold}",
            "Berechne: {expr}",
        ),
        "fr": Lang(
            "French",
            "Bon, je lis d'abord l'énoncé.",
            (
                "D'abord, je dois comprendre les données.",
                "Ensuite, je relie ces données entre elles.",
                "Je vérifie encore cette étape.",
                "Ici, il faut calculer avec soin.",
            ),
            "Étape {n}",
            "Réponse finale : {gold}",
            "Calcule : {expr}",
        ),
        "pt": Lang(
            "Portuguese",
            "Certo, primeiro vou ler o enunciado.",
            (
                "Primeiro preciso entender os dados.",
                "Agora relaciono os dados entre si.",
                "Vou conferir este passo de novo.",
                "Aqui é preciso calcular com cuidado.",
            ),
            "Passo {n}",
            "Resposta final: {gold}",
            "Calcule: {expr}",
        ),
        "hi": Lang(
            "Hindi",
            "ठीक है, पहले मैं प्रश्न पढ़ता हूँ।",
            (
                "पहले मुझे समझना होगा कि क्या दिया गया है।",
                "अब मैं इन तथ्यों को आपस में जोड़ता हूँ।",
                "मैं इस चरण को फिर से जाँचता हूँ।",
                "यहाँ ध्यान से गणना करनी होगी।",
            ),
            "चरण {n}",
            "अंतिम उत्तर: {gold}",
            "गणना करें: {expr}",
        ),
        "vi": Lang(
            "Vietnamese",
            "Được rồi, trước tiên tôi đọc đề bài.",
            (
                "Trước hết, tôi cần hiểu dữ kiện đã cho.",
                "Bây giờ tôi liên kết các dữ kiện với nhau.",
                "Tôi kiểm tra lại bước này.",
                "Ở đây cần tính toán cẩn thận.",
            ),
            "Bước {n}",
            "Đáp án cuối cùng: {gold}",
            "Tính: {expr}",
        ),
    }
)


def lang(code: str) -> Lang:
    """The phrase set for ``code``; unknown codes fall back to English."""
    return LANGS.get(code, LANGS["en"])
