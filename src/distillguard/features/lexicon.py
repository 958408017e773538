"""Phrases that reveal what a request is for, in several languages (matched on lowered text).

Written from how people elicit reasoning, grading and rewrites in general, not from any one
template of the simulator: detection is judged on phrasings it never saw. Each pattern family
returns a strength in [0, 1]; the semantic layer (embeddings per template cluster) can add
to these but never runs per event.
"""

from __future__ import annotations

import re
from typing import Final

_F = re.IGNORECASE

# Asking for the model's own reasoning, strongly (the thing distillers want).
COT_STRONG: Final = re.compile(
    r"(internal|inner|hidden|private|latent|underlying|full|complete|entire|detailed|raw)\s+"
    r"(reasoning|thoughts?|thinking|thought\s+process|chain[- ]of[- ]thought|monologue|"
    r"deliberation|inference|rationale|cognitive\s+process)"
    r"|chain[- ]of[- ]thought|\bcot\b|thought\s+process|reasoning\s+(trace|process|chain|steps)"
    r"|(write|spell|lay|set|print|output|show|reveal|expose|dump)\s+(out\s+)?(all\s+)?"
    r"(of\s+)?(your|the|its|each|every)\s+(\w+\s+)?(reasoning|thinking|thoughts|steps|derivation)"
    r"|(every|each|all)\s+(single\s+)?(intermediate\s+)?(step|steps)\b"
    r"|think(ing)?\s+(aloud|out\s+loud)|scratch\s?pad|<think>|<reasoning>"
    r"|(reconstruct|recreate|reverse[- ]engineer|imagine|infer|explicate|articulate|verbali[sz]e)"
    r"\w*\s+(\w+\s+){0,4}(reasoning|thinking|thought|steps|logic|inference|deliberation)"
    r"|一步一步|逐步|推理过程|思考过程|思维链|思路|详细步骤|内部推理|解题过程"
    r"|шаг\s+за\s+шагом|пошагов|ход\s+(рассуждений|мысли)|рассуждени"
    r"|paso\s+a\s+paso|razonamiento|étape\s+par\s+étape|raisonnement|passo\s+a\s+passo|raciocínio"
    r"|schritt\s+für\s+schritt|gedankengang|denkprozess|denkweg"
    r"|خطوة\s+بخطوة|الاستدلال|طريقة\s+التفكير|تفكيرك"
    r"|단계별|추론\s*과정|사고\s*과정|풀이\s*과정"
    r"|ステップバイステップ|段階的|推論過程|思考過程|考え方",
)
# Weaker: ordinary requests for explanation that plenty of people make.
COT_WEAK: Final = re.compile(
    r"step[- ]by[- ]step|explain\s+(your|the)\s+(reasoning|logic|answer|approach)"
    r"|show\s+(your|the)\s+work|justify|walk\s+(me\s+)?through|reason\s+(through|about|out)"
    r"|think\s+(carefully|through|it\s+through|step)|derivation|\bwhy\b.*\bsteps?\b",
)
# A demand about the language the reasoning is written in.
LANG_DEMAND: Final = re.compile(
    r"(reason|think|reasoning|thoughts?|respond|answer|write|explain)\w*\s+(\w+\s+){0,3}in\s+"
    r"(the\s+)?(same|user'?s|my|original|chinese|mandarin|russian|spanish|arabic|korean|"
    r"japanese|german|french|portuguese|hindi|vietnamese|turkish)\b"
    r"|用中文|请用.{0,4}语|на\s+русском|en\s+español|باللغة|한국어로|日本語で",
)
RUBRIC: Final = re.compile(
    r"\brubric\b|(score|rate|grade)\s+(the\s+|this\s+|each\s+|following\s+)?"
    r"(response|answer|completion|output|reply|candidate|submission)"
    r"|(on\s+a\s+scale|scale)\s+(of\s+|from\s+)?0?\d\s*(to|-|–)\s*\d+"
    r"|(score|rating|grade)\s+(it\s+)?(from|between)\s+0?\d\s*(to|and|-|–)\s*\d+"
    r"|which\s+(response|answer|completion)\s+is\s+better|reward\s+(model|score)"
    r"|evaluation\s+criteria|grading\s+criteria|评分|打分|оцени"
)
REWRITE_SAFE: Final = re.compile(
    r"(politically|culturally)\s+(sensitive|safe|neutral|appropriate|correct)"
    r"|(sanitiz|sanitis|censor|de-?politiciz|neutraliz)\w*"
    r"|remove\s+(any\s+|all\s+)?(sensitive|political|controversial)"
    r"|(content|censorship|internet)\s+(rules|regulations?|restrictions|polic(y|ies)|laws?)"
    r"|(compliant|comply|compliance)\s+with\s+(local\s+)?(regulations?|laws?|rules)"
    r"|敏感|政治|合规|审查|改写|和谐|正能量|安全版本|цензур|политически",
)
SYNTHETIC: Final = re.compile(
    r"(generate|create|produce|write)\s+(\d+\s+)?(diverse\s+|varied\s+|new\s+|more\s+)*"
    r"(examples|samples|questions|problems|instructions|prompts|training\s+data|datasets?|"
    r"q&a\s+pairs|dialogues)"
    r"|synthetic\s+(data|examples|dataset)|for\s+(fine-?tuning|training\s+(a|my|our)\s+model)"
    r"|jsonl\b",
)
FOLLOW_UP: Final = re.compile(
    r"\b(you|your)\s+(said|mentioned|wrote|suggested|previous|earlier|last|above)"
    r"|\b(step|point|part|item)\s+\d+\b|\bthe\s+above\b|\babove\s+(answer|code|response)"
    r"|(explain|elaborate|clarify|expand)\s+(on\s+)?(that|this|it|more|further)"
    r"|more\s+detail|what\s+do\s+you\s+mean|\bcontinue\b|\bthanks?\b|thank\s+you"
    r"|上面|刚才|你说",
)
CODE: Final = re.compile(
    r"```|\bdef\s+\w+\s*\(|\bfunction\b|\bclass\s+\w+|\bimport\s+\w+|\breturn\b|=>|\bconst\s"
    r"|\bpython\b|\bjavascript\b|\btypescript\b|\bjava\b|\bc\+\+|\brust\b|\bsql\b|\bcode\b"
    r"|\bbug\b|\bcompile|\bstack\s*trace|\berror:|\bapi\b|\bregex\b|\bunit\s+tests?\b",
)
MATH: Final = re.compile(
    r"\d+\s*[-+*/×÷^=]\s*\d+|\bsolve\b|\bcalculate\b|\bcompute\b|\bhow\s+many\b|\bprove\b"
    r"|\bequation|\bprobability\b|\bintegral\b|\bderivative\b|\bpuzzle\b|\blogic(al)?\b"
    r"|\btheorem\b|\bsum\s+of\b|\bremainder\b|\bprime\b|\bfinal\s+answer\b|计算|求解|多少",
)
DATA: Final = re.compile(
    r"\bcsv\b|\bdataframe\b|\bpandas\b|\bspreadsheet\b|\btable\b|\bdataset\b|\bcolumns?\b"
    r"|\banaly[sz]e\s+(the|this)\s+data\b|\bsql\s+query\b",
)


FAMILIES: Final[dict[str, re.Pattern[str]]] = {
    "cot_strong": COT_STRONG,
    "cot_weak": COT_WEAK,
    "lang_demand": LANG_DEMAND,
    "rubric": RUBRIC,
    "rewrite_safe": REWRITE_SAFE,
    "synthetic": SYNTHETIC,
    "follow_up": FOLLOW_UP,
    "code": CODE,
    "math": MATH,
    "data": DATA,
}
