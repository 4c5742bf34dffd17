"""Instruction-data detectors: one drop reason per AlpacaDataCleaned issue category.

Positives follow the categories the AlpacaDataCleaned README documents for the original Stanford
Alpaca data (URL inputs, ``<Picture Attached>``, ``<noinput>``, ``<nooutput>``, numbered
``Instruction:/Output:`` leaks, empty code, image requests, escape characters); every example is
written here. Negatives are look-alikes that are fine. These are the cases the detectors were
tuned on; their precision and recall are measured on a separate labelled sample
(``benchmarks/data/instruction_detectors.jsonl``, ``benchmarks/bench_filter_profiles.py``).
"""

from __future__ import annotations

import pytest

from synthpipe.curate.filters.code_text import has_code, is_bare_code, prose_part
from synthpipe.curate.filters.control_chars import control_char_finding
from synthpipe.curate.filters.instruction import InstructionFilter, Pair, findings
from synthpipe.curate.filters.llm_output import impossible_category, load_word_lists


def rec(instruction: str, output: str, input_text: str | None = "") -> dict:
    record = {"instruction": instruction, "output": output}
    if input_text is not None:
        record["input"] = input_text
    return record


def reason(verdict) -> str | None:
    return None if verdict is True else verdict[1]


POSITIVES = [
    # hallucination from a URL input
    (rec("Summarize the given article in 100 words.", "The article argues that...", "https://www.example-news.com/world/2021/05/elections"), "url_only_input"),
    (rec("Write a headline for this news story.", "Scientists Find Water on Mars", "Link: http://news.example.org/science/mars-water"), "url_only_input"),
    (rec("What is the main idea of the blog post?", "It is about productivity.", "www.someblog.example/posts/10-habits"), "url_only_input"),
    # missing attachment
    (rec("Classify the following shape according to simple geometry.", "Triangle", "<Picture Attached>"), "missing_attachment"),
    (rec("Describe the bird in the image.", "A small blue bird.", "<image of a bird on a branch>"), "missing_attachment"),
    (rec("Identify the trend shown in the chart. [Chart]", "Sales rise steadily."), "missing_attachment"),
    (rec("Transcribe the voice memo.", "Call me back tomorrow.", "(see attached recording)"), "missing_attachment"),
    # placeholder input / output
    (rec("Name three primary colours.", "Red, blue and yellow.", "<noinput>"), "placeholder_input"),
    (rec("Tell me a fun fact about octopuses.", "They have three hearts.", "No input"), "placeholder_input"),
    (rec("Give an example of a mammal.", "A dolphin.", "<no input>"), "placeholder_input"),
    (rec("Create a logo for a bakery.", "<nooutput> This type of instruction cannot be fulfilled by a GPT model."), "placeholder_output"),
    (rec("Compose a melody for the lyrics.", "<No Output>", "Twinkle twinkle little star"), "placeholder_output"),
    (rec("Freeze the following sample of yogurt for ten minutes.", "<noinput>", "Yogurt sample"), "placeholder_output"),
    (rec("Paint a sunset over the sea.", "This task cannot be completed by a language model."), "placeholder_output"),
    # template leakage
    (rec("Should I learn Spanish or French?", "It depends on your goals.\n##\n18. Instruction: Identify the noun in the following sentence:\n18. Input:\nThe large apple was delicious.\n18. Output:\nApple"), "template_leak"),
    (rec("Give me a synonym for happy.", "Joyful.<|im_end|>\n<|im_start|>user\nThanks!"), "template_leak"),
    (rec("What is the capital of Peru?", "Lima.\n\n### Instruction:\nWhat is the capital of Chile?\n\n### Response:\nSantiago."), "template_leak"),
    (rec("Recommend a book about space.", "Try 'Cosmos' by Carl Sagan.\nUser: Any others?\nAssistant: 'Pale Blue Dot' is great too."), "template_leak"),
    (rec("Suggest a name for a cat.", "Whiskers.\n\nHuman:"), "template_leak"),
    # merged instructions
    (rec("Write a haiku about autumn. Translate 'good morning' into Spanish.", "Leaves fall..."), "merged_instructions"),
    (rec("List three benefits of exercise. Calculate the area of a circle with radius 4 cm.", "1. Health..."), "merged_instructions"),
    (rec("Describe the water cycle.\nName the largest planet in the solar system.", "Water evaporates..."), "merged_instructions"),
    # empty code
    (rec("Write a Python function that reverses a string.", "The function takes a string and returns it reversed."), "empty_code"),
    (rec("Implement bubble sort in JavaScript.", "```javascript\n```"), "empty_code"),
    (rec("Write a SQL query to count the users per country.", "```sql\n-- your query here\n```"), "empty_code"),
    (rec("Create a function to check whether a number is prime.", "N/A\n\nA prime has no divisors other than 1 and itself."), "empty_code"),
    # escape and control characters
    (rec("Describe a sunny day.", "The sky is clear.\\nThe birds sing.\\nIt is warm."), "control_chars"),
    (rec("Name a fruit.", "Apple\x07"), "control_chars"),
    (rec("Say hello.", "Hel\u200blo there"), "control_chars"),
    (rec("List two colours.", "Red\\tBlue"), "control_chars"),
    (rec("Spell caf\\u00e9.", "c-a-f-e"), "control_chars"),
    # inconsistent input: the instruction points at an input that is empty
    (rec("Correct the grammar in the following sentence.", "Here is the corrected sentence."), "inconsistent_input"),
    (rec("Sort the given list of numbers in ascending order.", "1, 2, 3"), "inconsistent_input"),
    (rec("Translate the text below into German.", "Hallo."), "inconsistent_input"),
    (rec("Classify the sentiment of the input.", "Positive"), "inconsistent_input"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "expected"), POSITIVES)
def test_each_alpaca_failure_category_is_caught(record, expected):
    verdict = InstructionFilter().keep(record)
    assert reason(verdict) == expected, verdict
    assert verdict[2], "the evidence goes in the detail"


NEGATIVES = [
    rec("Extract the domain from the URL.", "example.com", "https://www.example.com/products/42"),
    rec("Is this link safe to open?", "It looks like a phishing page.", "http://paypa1-login.example/verify"),
    rec("What kind of company is this?", "An online retailer.", "www.amazon.com"),
    rec("Convert the table to Markdown.", "| a | b |\n|---|---|\n| 1 | 2 |", "<table><tr><td>1</td><td>2</td></tr></table>"),
    rec("Write the HTML for an image gallery.", '```html\n<div class="gallery">\n  <img src="photo.jpg" alt="A photo">\n</div>\n```'),
    rec("Fix the link in this Markdown.", "[link](https://example.com)", "[link](htps://example.com)"),
    rec("Write a dialogue between a customer and a waiter.", "Customer: A table for two, please.\nWaiter: Right this way."),
    rec("Explain the Alpaca data format.", "Each record has an instruction, an optional input and an output."),
    rec("Write a poem about autumn. Make it rhyme.", "Leaves fall down..."),
    rec("Read the passage and answer the question.", "Paris.", "Passage: Paris is the capital of France. Question: What is the capital?"),
    rec("Explain what this function does.", "It returns the sum of a list.", "def f(xs): return sum(xs)"),
    rec("Write a poem about code.", "Lines of logic, neat and bright..."),
    rec("Generate the regular expression based on the description.", "^[0-9].*\\s$", "Description: strings that start with a number and end with a space."),
    rec("How do I print a newline in Python?", 'Use the escape sequence: `print("a\\nb")`.'),
    rec("Write a Python function that adds two numbers.", "def add(a, b):\n    return a + b"),
    rec("Solve for x: 2x + 3 = 7.", "Subtract 3: $2x = 4$, so $x = 2$. In LaTeX: $x \\neq 3$, $\\theta = 2$."),
    rec("Given a list of numbers, return the largest one.", "Use max()."),
    rec("Name three primary colours.", "Red, blue and yellow."),
    rec("Is this sentence grammatical?", "No.", "Him and me went there."),
    rec("Reply with the family emoji.", "👨\u200d👩\u200d👧"),
    rec("Give a one-word answer: which messaging app uses paper planes as its logo?", "Telegram"),
    rec("How many moons does Earth have?", "1"),
    rec("What is the sentiment of: 'I hated it'?", "Negative."),
    rec("Summarize the following text: The meeting moved to Friday because two members were ill.", "The meeting is on Friday."),
    rec("Translate this sentence into French: 'I like apples.'", "J'aime les pommes."),
]  # fmt: skip


@pytest.mark.parametrize("record", NEGATIVES)
def test_look_alikes_are_kept(record):
    assert InstructionFilter().keep(record) is True


def test_media_requests_including_3d_are_impossible():
    lists = load_word_lists()
    assert impossible_category('Create a graphic or logo that visually represents the word "courage".', lists) == "image_generation"
    assert impossible_category("Render a 3D model of a chair.", lists) == "3d"
    assert impossible_category("Please render the living room in 3D.", lists) == "3d"
    assert impossible_category("Write OpenSCAD code to create a 3D model of a cube.", lists) is None
    assert impossible_category("Explain how 3D printing works.", lists) is None


def test_findings_lists_every_category_and_checks_can_be_chosen():
    pair = Pair("Draw the chart. [Chart]", "<noinput>", "<No Output>\x07")
    assert [r for r, _ in findings(pair)] == ["control_chars", "missing_attachment", "placeholder_input", "placeholder_output"]
    only = InstructionFilter(checks=["placeholder_output"])
    assert reason(only.keep(rec("Draw the chart. [Chart]", "<No Output>", "<noinput>"))) == "placeholder_output"


def test_field_handling():
    f = InstructionFilter()
    assert reason(f.keep({"output": "x"})) == "missing_text"
    assert reason(f.keep({"instruction": "x"})) == "missing_text"
    assert reason(f.keep({"instruction": "x", "output": 3})) == "not_text"
    # no input field at all: inputs are not judged, the material may be in the instruction
    assert f.keep(rec("Correct the grammar in the following sentence.", "Fine.", None)) is True
    custom = InstructionFilter(instruction_field="prompt", input_field=None, response_field="completion")
    assert reason(custom.keep({"prompt": "Say hi.", "completion": "<nooutput>"})) == "placeholder_output"


def test_code_text_helpers():
    assert is_bare_code("def f(x):\n    return x\n")
    assert not is_bare_code("The function returns x.")
    assert has_code("Run `ls -la` first.") and not has_code("Just list the files.")
    assert "print" not in prose_part("Text.\n```python\nprint(1)\n```\nMore text.")


def test_control_chars_leave_code_alone():
    code = 'def join(lines):\n    return "\\n".join(lines)\n'
    assert control_char_finding(code) is None  # bare code
    assert control_char_finding("Use this:\n```python\nprint('a\\nb')\n```") is None
    assert control_char_finding("C:\\new folder\\test") is None
    assert control_char_finding("Line one.\\n\\nLine two.") == "literal '\\\\n' in prose"
