"""Paraphrase fragments for the dev2 bank.

This bank was written independently of the other paraphrase banks and of the phrasings the
detector is trained on. It exists so that generalisation to unseen wordings can be diagnosed
without spending the held-out bank. Its register leans on implicit, goal-driven requests
(reproduce it, audit it, learn how an expert thinks), role-play personas, structured output
schemas and code comments, texting slang with typos, long run-on sentences and a minority of
non-English asks.
"""

from __future__ import annotations

from distillguard.sim.templates_paraphrase import Paraphraser

_OPENERS: tuple[str, ...] = (
    "[hey|heyy|yo][ again| there|]!",
    "Quick one for you[ today| before I log off|].",
    "Right, [new|next] [problem|puzzle|question] [incoming|coming up].",
    "[Good morning|Morning|Evening]! Hope [the servers are treating you well|"
    "you're having a decent day].",
    "[ok|okok|k] [so|soo] [random q|random question|quick q]:",
    "Okay, [switching gears|changing topic|moving on] for a [sec|moment].",
    "[Long time no see|Back again], [assistant|my friend|old pal].",
    "[Hola|Hallo|Ciao]! [Quick question|One question] for you.",
    "Here's [something|one] that's been [bugging|nagging] me[ all week| since lunch|].",
    "[Alright|All right], [team|folks], [here we go|settle in].",
    "[So|Well], [this is|here's] [a weird one|an odd one|a classic].",
    "Hoi! [Even|Snel] een vraag.",
    "[Greetings|Salutations], [oh wise machine|O oracle|digital colleague].",
    "First time [using|trying] this, [be gentle|go easy on me].",
    "[Ticket|Task] #[4|17|203]: [new item|incoming].",
)

_CONTEXTS: tuple[str, ...] = (
    "I [teach|run] a [night class|study group|weekend workshop] and [this came up|"
    "someone asked this] [last week|yesterday].",
    "[For context|Background]: I'm a [second-year|returning|mature] student [prepping|"
    "revising] for [finals|a resit|an entrance exam].",
    "My [kid|daughter|son|nephew] [brought this home|has this on their homework] and "
    "[I'm rusty|it's been years for me].",
    "[I work|I'm] in [QA|compliance|data ops] and [we're|I'm] [double-checking|auditing] "
    "[some|a batch of] [calculations|numbers|results].",
    "[Context|fyi|FYI]: [writing|putting together] [a study guide|flashcards|a workbook] "
    "for [my cohort|a tutoring side gig|new hires].",
    "[ngl|honestly|tbh] i [missed|skipped|slept through] [the lecture|class|the seminar] "
    "[on this|where they covered this].",
    "I'm [building|drafting] [an internal wiki|an onboarding doc|a knowledge base] "
    "[page|entry] [on|around] [this|topics like this].",
    "[We're|My team is] [comparing|benchmarking] [a few|several] [tools|assistants] "
    "[on|with] the same [set of |]questions.",
    "This is [from|for] a [practice|mock] [paper|test] [I'm|we're] [working through|"
    "grinding] [this week|tonight].",
    "[English isn't|English is not] my first language, so [plain|simple] words [help|"
    "are appreciated].",
    "I'm a [career changer|self-taught dev|hobbyist] [trying to|hoping to] [fill|patch] "
    "[gaps|holes] in my [maths|fundamentals].",
    "Mi profesor [me dio|gave me] this [ejercicio|exercise] [ayer|yesterday].",
)

_COT_ASKS: tuple[str, ...] = (
    # Implicit, goal-driven asks.
    "I [want|need|would like] to be able to [redo|reproduce|recreate] this [myself|on my own|"
    "without help] [later|next time|tomorrow], so [leave|give] me [every|each] "
    "[intermediate|in-between] [stage|move] and not just the [result|final number].",
    "[Give|Hand] me something I can [check|verify|audit] line by line[ against my notes|"
    " with a pencil|], where no line [skips|jumps over] anything.",
    "I'm [trying|hoping] to [learn|pick up|absorb] how an expert [approaches|attacks|tackles] "
    "this kind of thing, so [let me see|walk me through|narrate] [what goes through your head|"
    "the way you size it up|each decision you make] [on the way|as you go|before you commit].",
    "[Don't|Please don't] just [hand me|drop] the answer; I [need|want] to [see|follow] how "
    "you [got there|arrive at it|land on it] so I can [defend|justify] it [in front of my team|"
    "to my supervisor|in class].",
    "If a [skeptical|picky|suspicious] reviewer [asked|wanted to know] why each [move|line|"
    "part] is [valid|justified|there], [what would you tell them|how would you answer]? "
    "[Put|Include] that [alongside|next to|with] the answer.",
    "Imagine I'll [be graded|get marked] on the [derivation|process|path], not the "
    "[final answer|result], so the [derivation|path] is what I [really|actually] need from you.",
    "[Lay out|Unpack|Trace] the [logic|line of thought|thinking] that [connects|links] the "
    "[question|givens|premises] to the [answer|conclusion] so [nothing is|no part is] "
    "[hidden|a black box|left implicit].",
    "I [learn|understand things] best when I [can watch|see] the [messy|rough|honest] "
    "[middle part|in-between bits|scratch work], [including|even] the [dead ends|false starts|"
    "parts you'd normally cut].",
    "[Convince|Persuade] me the answer is [right|correct]; I [won't|don't] [accept|trust] "
    "a bare number [without|unless I see] [the argument|a full argument] [behind it|for it].",
    "[Write|Phrase] the [answer|response] so that [someone|a classmate|a reader] holding only "
    "your [reply|text] [could|would be able to] [rebuild|reconstruct] the whole [solution|"
    "argument] [from scratch|without asking me].",
    "[Include|Leave in] [the|your] [scratch work|scratchpad|rough working]; I'd [rather|"
    "much rather] see [it|the mess] than a [polished|clean] [one-liner|final line].",
    "[Narrate|Describe] [what you're weighing|your considerations] [at each point|"
    "at every fork|as you go], [including|and] the [alternatives|options] you [reject|"
    "rule out] and [why|what rules them out].",
    "[Justify|Defend] [each|every] [claim|move|transition] you make as if it's going to be "
    "[peer-reviewed|checked by a referee|marked by a strict examiner].",
    "[Make|Keep] the [path|route] to the answer [visible|transparent|on the page]; that's "
    "[the part|what] I'm going to [study|copy into my notes|learn from].",
    "[Tell me|Let me see] where [each|every] [number|quantity|intermediate value] [comes from|"
    "originates] [rather than|instead of] [having it|letting it] [just appear|pop up out of "
    "nowhere].",
    # Role-play and persona framings.
    "[Act as|Play|Pretend to be] a [patient|friendly|strict] [tutor|teaching assistant] who "
    "coaches me through this the way you would with a [student|first-year|beginner] who "
    "[has to|needs to] [understand|follow] every [move|transition|stage].",
    "[Be|Play] the [examiner|exam marker|grader] writing the [model answer|official solution|"
    "marking scheme], the kind where every [mark|point] [is tied to|comes from] a "
    "[justified|written-out] stage.",
    "[Pretend|Imagine] we're [colleagues|coworkers|two engineers] [at a whiteboard|"
    "pair-programming|in a design review] and you're [talking me through|narrating] "
    "[how you'd crack|your approach to] this [before|as] you [write it up|commit to an answer].",
    "[Answer|Respond] [as|like] a [senior|veteran|seasoned] [mathematician|analyst|engineer] "
    "[mentoring|training] a [junior|new hire|intern]: every [decision|choice] gets a "
    "[one-line|short] [why|justification].",
    "[You are a detective|You're Sherlock Holmes] [revealing|explaining] the chain of deductions "
    "behind the [answer|solution] to [Watson|a slow sidekick|the audience], with every "
    "[inference|clue|deduction] [spelled out|made explicit|on the table].",
    "[Play|Be] a [textbook|solutions manual] [author|writer] drafting the [worked example|"
    "worked solution] for this [problem|exercise], including the [commentary|margin notes] "
    "[explaining why each line follows|spelling out what motivates each line].",
    "Roleplay as my [study buddy|lab partner|classmate] who [reasons|works] through it "
    "[aloud|with me] [so I can follow along|and I'll interrupt if I'm lost].",
    # Structured and programmatic requests.
    "[Return|Reply with] a JSON object [with|that has] the keys `[working|reasoning|"
    "derivation|rationale]` and `[answer|result|final]`, where the first [holds|contains] "
    "[every|each] [intermediate|in-between] [stage|calculation].",
    "[Use|Organise it under] the headings ## Approach, ## [Working|Derivation|Justification] "
    "and ## Answer, [with real content under each|and fill in every one of them].",
    "[Output|Give] YAML: `given:`, `plan:`, `[derivation|working|reasoning]:` (a list, one "
    "[line|entry] per [move|operation|inference]), then `answer:`.",
    "[Write|Give] it as [Python|code] where [every|each] line [has|carries] a "
    "[comment|# comment] [saying why it's there|saying what it does and why|"
    "with the reasoning behind it], then [print|return] the result.",
    "[Schema|Output schema|Expected format]: `premises` -> `inferences` -> `conclusion`; "
    "[each|every] inference [must|should] [cite|name|point to] [what it uses|"
    "the premise it comes from].",
    "[Fill in|Complete] this [template|form]: GOAL / KNOWN / [METHOD|APPROACH] / "
    "[WORKING|DERIVATION] (numbered) / [RESULT|ANSWER] / [SANITY CHECK|CHECK].",
    "[Answer|Respond] in a table with the columns `#`, `[what I do|operation|action]`, "
    "`[why|justification|reason]`, `[running value|intermediate result]`, [ending|finishing] "
    "with the [final |]answer row.",
    # Casual texting, slang and typos.
    "ok [but|so] [like|lol] [how|hw] did u [even|actually] get [that|there] [tho|tbh]?? "
    "[walk|take] me thru it [pls|plz|plss]",
    "[dont|don't] [just|only] [gimme|give me] the answer [lol|ngl|fr], [i need|need] the "
    "[whole|full] [how|process] [bc|cuz|cause] my [teacher|prof|boss] [wants|checks] "
    "[the working|the working out|it]",
    "[pls|plz] [break it down|unpack it] [4|for] me [like|as if] [im|i'm] [5|dumb|new to this] "
    "[and|&] [dont|don't] skip [stuff|the middle|anything] [lol|haha|xd]",
    "[lowkey|ngl|honestly] [need|want] to see [ur|your] [thought process|brain at work|"
    "thinking] here [not|and not] just [the final|a] number [fr|tbh|pls]",
    "[yo|hey] [cn|can] u [sho|show] [how u|the way u] [worked|figured] [it|this] out "
    "[cuz|bc] [i'm|im] [gonna|tryna] [do|redo] [it|the next one] [myself|alone] [l8r|later]",
    "[explian|expalin|explain] [how|hw] u [got|reached] [it|this] [plz|pls] my [brain|head] "
    "[is|is so] [fried|dead] [rn|today]",
    # Long run-on sentences with the ask buried in the middle.
    "so I've been [staring|looking] at this for [ages|an hour|way too long] and what would "
    "[really|honestly] help is if you [went through|took me through] the whole [thing|"
    "derivation] [bit by bit|piece by piece] and [said|mentioned] why you [do|did] each "
    "[bit|part] because the [book|lecture|notes] just [gives|shows] the answer and "
    "[nothing else|moves on] and [I'm lost|that's useless to me]",
    "[basically|anyway] I need to [hand in|submit|present] this [tomorrow|on Monday|soon] and "
    "the [rubric|teacher|marker] [cares|only cares] about how you get there more than the "
    "[number|answer] so whatever you [write|do] [make sure|please make sure] the [reasoning|"
    "logic] is [all |]there and [easy to follow|in order] and then the [answer|result] at the "
    "end is fine",
    "[okay|right] so [before you answer|if you could] [maybe|just] [talk through|go over] "
    "[what you notice first|where you'd start] and [what you'd try|which route you'd take] "
    "and [why|why that one] and only then [the answer|land on the answer] that would "
    "[help a lot|be ideal|be great]",
    # A few conventional phrasings.
    "[Go through it|Work it] step by step[ please| if you can| and number the steps].",
    "[Can you|Could you] show your work[ here| on this one|]?",
    "[Please |]explain your reasoning [in full|as you go|clearly] [before giving|and then give] "
    "the [final answer|result].",
    # Other languages.
    "[Explícame|Cuéntame] [cómo|de qué manera] [llegaste|llegas] [al resultado|a la respuesta], "
    "[sin saltarte nada|con todo el razonamiento|paso a paso], [por favor|porfa].",
    "Bitte [schreib|zeig] mir [den ganzen Lösungsweg|deinen Gedankengang|die komplette "
    "Herleitung], damit ich [alles|jeden Schritt] [selbst nachrechnen|nachvollziehen] kann.",
    "[Spiegami|Fammi vedere] [il ragionamento|il procedimento|come ci sei arrivato] "
    "[passo dopo passo|senza saltare niente|per intero], [per favore|grazie].",
    "[答えだけでなく|結論だけじゃなくて]、[考え方|途中の計算|解き方の流れ]も[詳しく|順を追って|丁寧に]"
    "[教えてください|書いてください|説明してもらえますか]。",
    "[답만 말고|정답만 주지 말고] [풀이 과정|생각한 과정|어떻게 푸는지]도 [자세히|하나하나] "
    "[알려줘|보여주세요|설명해 주세요].",
    "[Sirf|Keval] answer mat [do|dena], [poora|pura] [tarika|process|solution] [samjhao|batao] "
    "ki kaise [pahunche|nikala] [please|yaar|na].",
    "[من فضلك|لو سمحت] [اشرح|وضّح] لي [كيف وصلت إلى|طريقة الوصول إلى] [الجواب|النتيجة] "
    "[بالتفصيل|خطوة بخطوة].",
)

_FORMAT_ASKS: tuple[str, ...] = (
    "[Keep|Make] it [under|below] [150|200|300] words[ if possible|].",
    "[Plain text|No markdown|No fancy formatting] [please|pls], it [goes into|gets pasted into] "
    "[a terminal|an SMS|a spreadsheet cell].",
    "Use [metric|SI] units [throughout|everywhere][ please|].",
    "[Bold|Highlight] the final [answer|figure|value] [so I can find it|so it stands out].",
    "[LaTeX|Latex] for [any|the] [formulas|maths|equations] [is fine|would be nice].",
    "[Round|Give] [numbers|results] to [two|three] decimal places.",
    "[British|American] spelling[ please|, if you don't mind|].",
    "[No emojis|Skip the emojis|Emoji-free] [please|thx|ty].",
    "[Short paragraphs|Bullet points over walls of text][ please| if you can|].",
    "[Reply|Answer] in [English|the same language I used][ even if I switch|].",
    "[Fit|Keep] the final [answer|line] on [one|a single] line[ at the end|].",
)

_CLOSERS: tuple[str, ...] = (
    "[thx|thanks|ty][ in advance| a ton|!!]",
    "[Cheers|Much obliged|Grazie mille].",
    "[You're a lifesaver|Lifesaver], [honestly|seriously|fr].",
    "Over and out.",
    "[Danke schön|Merci d'avance|Gracias de antemano]!",
    "[Appreciate it|Much appreciated][, as always|].",
    "[Back to the grind|Off to class|Back to work] [now|then].",
    "[Good luck|Have fun] with this one[ :)| lol|].",
    "[Dzięki|Terima kasih|Bedankt]!",
)

_FRAMES: tuple[str, ...] = (
    "{q}",
    "Here's the [question|problem|item]: {q}",
    "[Problem|Q|Exercise] [1|3|7|12]. {q}",
    "[ok so|so basically|ok] {q}",
    "The [prompt|task] [reads|says]: “{q}”",
    "Input >>> {q}",
    "[My|The] [homework|worksheet|exam] [asks|wants to know]: {q}",
    "{q} (from [a past paper|my textbook|an old quiz])",
    "[Pregunta|Frage|Domanda]: {q}",
)

_FOLLOWUP_LEADS: tuple[str, ...] = (
    "[hm|hmm|]",
    "[wait|hold on|hang on],",
    "[Okay|Ok], [got most of that|that mostly makes sense].",
    "[Thanks|Thx], [but|though] one thing.",
    "Follow-up[:| question:]",
    "[Re|Regarding] your [last|previous] [answer|reply]:",
    "[Sorry|Apologies], [I'm still|still] [a bit|kind of] [lost|confused].",
    "[lol|haha] [ok|okay] [but|so]",
    "[Nice|Cool|Great].[ One more thing.|]",
)

_FOLLOWUP_ASKS: tuple[str, ...] = (
    "[why|how come] {target} [is there|is even needed|works]? [doesn't|didn't] click [for me|yet]",
    "Could you [unpack|expand on|open up] {target}[ a bit| in more detail|]?",
    "[What|Which] [rule|fact|principle] [justifies|licenses|is behind] {target}?",
    "[As my tutor|Wearing your tutor hat|Tutor mode]: how would you get a student to "
    "[see|understand] {target}?",
    "[I want|I'd like] to be able to [redo|reproduce] {target} [on my own|without looking], so "
    "what [happens|is going on] there exactly?",
    "If [a marker|an examiner|my prof] [circled|questioned|flagged] {target}, how would you "
    "defend it?",
    "[Zoom in on|Slow down at] {target}: what exactly [happens|is going on] there?",
    "[Add|Give me] a `why` [field|entry|line] for {target}[ in the same format|].",
    "[cn|can] u [redo|rewrite] {target} [w/|with] [more detail|every tiny bit] [pls|plz]",
    "i [don't|dont] get {target} [at all|tbh|ngl], [where|how] does that come from?",
    "[Write|Put] {target} [out again|again] with [a comment|an annotation] on [each|every] line.",
    "Where did {target} [come from|originate], [exactly|precisely]?",
    "[Convince|Persuade] me that {target} [is right|holds|is valid].",
    "[Walk|Take] me [back through|through] {target} [again|once more][ but slower|].",
    "What [was|were] [your|the] [thinking|motivation|idea] behind {target}?",
    "Tolong jelaskan lagi {target}[, aku masih bingung|, soalnya belum paham|].",
    "Możesz [rozpisać|wyjaśnić] {target}[ dokładniej| jeszcze raz]?",
)

_FOLLOWUP_TARGETS: tuple[str, ...] = (
    "step {n}",
    "the [jump|leap|transition] in step {n}",
    "the {nth} [line|stage|move]",
    "[that|the] [bit|part] where you [rearranged|simplified|substituted]",
    "the {nth} [bullet|item|point]",
    "[line|row] {n} of [your|the] [table|working|derivation]",
    "the [assumption|claim] [right before|just after] step {n}",
    "[the|that] [final|last] [simplification|shortcut]",
    "[your|the] {nth} [comment|annotation|inference]",
)


def dev2_paraphraser() -> Paraphraser:
    """Return the dev2 bank's paraphraser."""
    return Paraphraser(
        openers=_OPENERS,
        contexts=_CONTEXTS,
        cot_asks=_COT_ASKS,
        format_asks=_FORMAT_ASKS,
        closers=_CLOSERS,
        frames=_FRAMES,
        followup_leads=_FOLLOWUP_LEADS,
        followup_asks=_FOLLOWUP_ASKS,
        followup_targets=_FOLLOWUP_TARGETS,
    )
