"""The tuning bank: scaffolds in the plain-instruction and markdown-header style.

Phrasings follow what the public reports describe (explicit "write out your internal reasoning
step by step", graders returning JSON scores, "politically safe" rewrites). Detection may be tuned
on these; the heldout bank must never share their wording or shape. A plain string is English, a
``(lang, text)`` pair names its language ("*": the text asks for the {language} slot).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

TEMPLATES: Final[Mapping[str, tuple[str | tuple[str, str], ...]]] = MappingProxyType(
    {
        "reasoning-harvest": (
            "{question}\n\nWrite out your internal reasoning step by step before giving the "
            "final answer.",
            "Solve the following problem. Show every step of your work, including intermediate "
            "calculations, and put the final answer on its own line.\n\nProblem: {question}",
            "## Task\n{question}\n\n## Instructions\n- Think step by step.\n- Write out your full "
            "chain of thought.\n- End with `Final answer: <answer>`.",
            "Please provide a complete derivation for the problem below. Do not skip any steps, "
            "and explain the reasoning behind each one.\n\n{question}",
            "Question: {question}\nLet's think step by step. Write out all of your internal "
            "reasoning, then state the answer.",
            "I need a fully worked solution with every intermediate step shown.\n\n{question}\n\n"
            "Format: numbered steps, then **Answer:** on the last line.",
            "You are solving a reasoning problem. First write your detailed reasoning in a section "
            "titled 'Reasoning', then give the result in a section titled 'Answer'.\n\n{question}",
            "{question}\n\nExplain your thought process in detail, step by step, as if you were "
            "thinking out loud. Include any checks you perform.",
            "Problem:\n{question}\n\nShow your complete reasoning process and verify the result "
            "at the end.",
            "Think carefully and write down each reasoning step you take to reach the answer.\n\n"
            "### Problem\n{question}\n\n### Step-by-step reasoning",
        ),
        "cot-reconstruction": (
            "Here is a problem and its completed answer. Imagine the internal reasoning that led "
            "to this answer and write it out step by step.\n\nProblem: {question}\n\n"
            "Answer: {answer}",
            "## Problem\n{question}\n\n## Final answer\n{answer}\n\n## Your task\nReconstruct the "
            "full chain of thought that produces this final answer. Write it as a detailed "
            "step-by-step reasoning trace.",
            "Given the question and the correct answer below, write the detailed reasoning a "
            "careful expert would go through to arrive at that answer. Do not just restate the "
            "answer.\n\nQuestion: {question}\nCorrect answer: {answer}",
            "The answer to the following problem is already known: {answer}\n\nProblem: "
            "{question}\n\nWrite out the hidden reasoning steps that connect the problem to this "
            "answer, step by step.",
            "Below is a solved task. Produce the internal monologue the solver would have had "
            "while solving it, including false starts and corrections.\n\nTask: {question}\n"
            "Solution: {answer}",
            "Question:\n{question}\n\nReference answer:\n{answer}\n\nWrite a step-by-step "
            "rationale that justifies the reference answer. The rationale should read like "
            "genuine thinking, not a summary.",
            "Pretend you did not know the answer ({answer}) in advance. Think through the problem "
            "step by step as you naturally would, and arrive at it.\n\n{question}",
            "Produce a chain-of-thought explanation for this question-answer pair. Make every "
            "inference explicit.\n\nQ: {question}\nA: {answer}",
            "Fill in the missing reasoning.\n\nProblem: {question}\nAnswer: {answer}\n"
            "Reasoning (write it in full, step by step):",
        ),
        "rubric-grading": (
            "You are an expert evaluator. Grade the response below according to the rubric.\n\n"
            "## Rubric\n{rubric}\n\n## Prompt\n{question}\n\n## Response\n{response}\n\n"
            'Return JSON: {"score": <integer 1-10>, "justification": "<short explanation>"}',
            "Rate the following answer on a scale of 1 to 10 using the rubric provided. Explain "
            "your score briefly, then output the score as JSON.\n\nRubric:\n{rubric}\n\n"
            "User prompt:\n{question}\n\nAssistant answer:\n{response}",
            "### Grading rubric\n{rubric}\n\n### Conversation\nUser: {question}\nAssistant: "
            "{response}\n\n### Instructions\nScore the assistant's reply from 1 (worst) to 10 "
            "(best). Respond only with a JSON object containing `score` and `justification`.",
            "Act as a reward model. Read the prompt and the response, apply the rubric, and "
            "output a single score between 1 and 10 with a one-sentence justification in JSON."
            "\n\nRUBRIC: {rubric}\nPROMPT: {question}\nRESPONSE: {response}",
            "Evaluate the quality of this response. Consider each rubric criterion, then give an "
            "overall score out of 10.\n\nCriteria:\n{rubric}\n\nQuestion: {question}\n\n"
            'Response to evaluate: {response}\n\nOutput format: {"score": int, '
            '"justification": str}',
            "Score this response (1-10) against the rubric. Be strict and consistent.\n\n"
            "{rubric}\n\n---\nPrompt: {question}\n---\nResponse: {response}\n---\nJSON only.",
            "I will give you a rubric, a user request and a model response. Assign a score from "
            "1 to 10 and justify it.\n\nRubric:\n{rubric}\n\nRequest:\n{question}\n\n"
            "Model response:\n{response}\n\nReply with JSON containing score and justification.",
            "Judge the response below. Use the rubric to decide on a score between 1 and 10 and "
            "give your justification.\n\n[Rubric]\n{rubric}\n\n[User]\n{question}\n\n"
            '[Response]\n{response}\n\nAnswer in JSON with the keys "score" and "justification".',
            "Compare the response with the rubric criteria and provide a numeric rating (1-10) "
            "plus a brief rationale, formatted as JSON.\n\nRubric: {rubric}\n\nInput: {question}"
            "\n\nOutput: {response}",
        ),
        "censorship-rewrite": (
            "Rewrite the following text so that it is politically safe: remove or neutralise any "
            "politically sensitive content, references to protests, criticism of governments or "
            "controversial historical events. Keep everything else.\n\n{text}",
            (
                "zh",
                "请将以下内容改写为政治上安全的版本，删除所有敏感的政治内容，其余部分保持原意：\n\n{text}",
            ),
            "Sanitise this text for publication in a market with strict content regulations. "
            "Remove anything that could be considered politically sensitive.\n\nText:\n{text}",
            (
                "zh",
                "请以适合在内容审查严格的地区部署的方式改写下面的文本，避免任何可能引起争议的政治话题：\n\n{text}",
            ),
            "Produce a version of the following answer that would be safe for deployment in a "
            "region with strict content rules. Avoid mentioning sensitive political topics, "
            "leaders or disputed territories.\n\n{text}",
            (
                "zh",
                "将下面的文字改写得更加“和谐”，去掉涉及政治、历史争议和社会事件的敏感表述，输出改写后的全文。"
                "\n\n原文：\n{text}",
            ),
            "## Task\nRewrite the text below to comply with strict local content guidelines.\n"
            "## Rules\n- Remove politically sensitive statements\n- Replace controversial terms "
            "with neutral wording\n- Keep the length similar\n## Text\n{text}",
            (
                "zh",
                "下面是一段回答。请把它修改成符合内容安全规范的版本，删除涉及敏感政治话题的部分，其余内容保持不变。\n\n{text}",
            ),
            "Make this text censorship-compliant: strip out any political commentary or "
            "sensitive references and return only the cleaned version.\n\n{text}",
            (
                "zh",
                "请对以下文本进行内容安全审校并改写，确保不包含任何政治敏感信息，直接输出修改后的文本：\n{text}",
            ),
        ),
        "agentic-coding": (
            "You have access to tools for reading files, writing files and running tests. Plan "
            "your approach, then call the tools needed to complete this task. Write the full "
            "solution.\n\nTask:\n{task}",
            "## Goal\nImplement the following.\n\n{task}\n\n## Requirements\n- Use the available "
            "tools to create the file and run the tests.\n- Show your plan before the first tool "
            "call.\n- Provide the complete final code.",
            "Act as an autonomous coding agent. Break the task into steps, use the tools to "
            "inspect and modify the repository, and finish with a complete working "
            "implementation.\n\n{task}",
            "Complete this coding task end to end. First write a numbered plan, then issue tool "
            "calls as needed, then give the final code.\n\n{task}",
            "Task for the agent:\n{task}\n\nThink about which tools to call and in what order. "
            "Call them one at a time and explain each call.",
            "You are working in a repository. Solve the issue below by calling tools. When done, "
            "output the full contents of every file you changed.\n\nIssue:\n{task}",
            "Use the provided functions to implement and test the following. Do not ask "
            "clarifying questions; make reasonable assumptions and proceed.\n\n{task}",
            "### Coding task\n{task}\n\n### Expected behaviour\nWrite the implementation, create "
            "tests, run them with the test tool and fix any failures. Report the final passing "
            "code.",
            "Here is a programming task. Explain your approach step by step, then write the "
            "complete solution and call the test runner to verify it.\n\n{task}",
        ),
        "computer-use": (
            "Here is a screenshot of the screen. Describe what you see, then give the next click "
            'action as JSON: {"action": "click", "x": <int>, "y": <int>}.\n\nGoal: {task}',
            "You are controlling a computer. Goal: {task}\nLook at the screenshot and output the "
            "next action (click, type or scroll) as JSON with coordinates.",
            "## Screen\n(see image)\n## Objective\n{task}\n## Output\nDescribe the screen briefly, "
            "explain your reasoning and return the next action in JSON.",
            "Describe the current screen and decide the single next UI action that makes progress "
            "on this task: {task}\nRespond with a JSON object containing action, target and "
            "coordinates.",
            "Based on the screenshot, what should be clicked next to accomplish the goal below? "
            "Give the element, its approximate pixel coordinates and a JSON action.\n\n{task}",
            "Act as a GUI agent. Step 1: describe every visible element relevant to the goal. "
            "Step 2: choose the next action. Step 3: output it as JSON.\n\nGoal: {task}",
            "Screenshot attached. Task: {task}\nReturn only JSON: "
            '{"thought": "...", "action": "click|type|scroll", "x": 0, "y": 0, "text": ""}',
            "Look at this screen and tell me the next mouse or keyboard action needed to "
            "accomplish the goal below. Think step by step about the layout first.\n\nGoal: {task}",
            "You are a computer-use assistant. Given the screenshot, output the next action for "
            "the task below as a JSON object, preceded by a short description of the screen.\n\n"
            "Task: {task}",
        ),
        "multilingual-reasoning": (
            (
                "zh",
                "请一步一步地思考并解答下面的问题，写出你完整的内部推理过程，推理过程必须使用中文。\n\n题目：{question}",
            ),
            (
                "zh",
                "## 题目\n{question}\n\n## 要求\n"
                "- 用中文详细写出每一步推理\n- 最后单独一行给出答案",
            ),
            (
                "ru",
                "Реши задачу и подробно распиши ход своих рассуждений шаг за шагом. Рассуждения "
                "пиши на русском языке.\n\nЗадача: {question}",
            ),
            (
                "ru",
                "Задача:\n{question}\n\nПокажи все промежуточные шаги решения и объясни каждый из "
                "них по-русски.",
            ),
            (
                "es",
                "Resuelve el siguiente problema. Escribe todo tu razonamiento interno paso a paso, "
                "en español, antes de dar la respuesta final.\n\nProblema: {question}",
            ),
            (
                "ar",
                "حلّ المسألة التالية واكتب كل خطوات تفكيرك الداخلي بالتفصيل "
                "خطوة بخطوة باللغة العربية.\n\nالمسألة: {question}",
            ),
            (
                "ko",
                "다음 문제를 풀고, 내부 추론 과정을 단계별로 자세히 한국어로 "
                "작성해 주세요.\n\n문제: {question}",
            ),
            (
                "ja",
                "次の問題を解いてください。考え方をステップごとに日本語で詳しく書き出し、最後に答えを示してください。\n\n問題：{question}",
            ),
            (
                "de",
                "Löse die folgende Aufgabe und schreibe deinen vollständigen Denkweg Schritt für "
                "Schritt auf Deutsch auf.\n\nAufgabe: {question}",
            ),
            (
                "*",
                "{question}\n\nWrite out your complete reasoning step by step in {language}, then "
                "give the final answer in {language} as well.",
            ),
        ),
        "logprob": (
            "Answer the following question.\n\n{question}",
            "Q: {question}\nA:",
            "{question}\n\nAnswer concisely and accurately.",
            "Respond to the user message below as helpfully as possible.\n\n{question}",
            "### Input\n{question}\n\n### Response",
            "Provide your best answer to this:\n{question}",
            "User: {question}\nAssistant:",
            "Please complete the following task.\n\n{question}",
        ),
        "synthetic-data": (
            "Using the text below as inspiration, write 5 new challenging questions with complete "
            "step-by-step solutions.\n\n{text}",
            "Generate 10 diverse instruction-response pairs based on the following content. Each "
            "response should be detailed and include its reasoning.\n\n{text}",
            "Create a set of practice problems similar to the one below, each with a fully worked "
            "solution and a final answer.\n\n{text}",
            "## Seed\n{text}\n\n## Task\nWrite 8 varied user questions on this topic and a high "
            "quality assistant answer for each. Output as a numbered list.",
            "Based on this example, produce 5 more examples in the same format, with detailed "
            "explanations.\n\n{text}",
            "Write a multi-turn conversation between a curious user and a helpful expert "
            "assistant about the following. The assistant should explain its reasoning.\n\n{text}",
            "Turn the following material into question and answer pairs suitable for a tutoring "
            "dataset. Include step-by-step solutions.\n\n{text}",
            "Here is a sample task. Generate 6 harder variations and solve each one in full.\n\n"
            "{text}",
        ),
        "system-prompt": (
            "You are a helpful assistant. Always think step by step and show your full reasoning "
            "before answering.",
            "You are an expert problem solver. Write out your complete chain of thought for every "
            "question.",
            "You are a precise and thorough assistant. Never skip steps.",
            "You are a world-class mathematician and programmer. Explain all reasoning explicitly.",
            "You are a helpful, harmless and honest assistant.",
            "You are a strict and consistent grader.",
            "You are an autonomous software engineering agent with access to tools.",
            "You are a careful assistant that gives detailed, well-structured answers with clear "
            "steps.",
            "Respond in the same language as the user. Show your reasoning in detail.",
        ),
    }
)
