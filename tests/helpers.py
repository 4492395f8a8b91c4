"""Test data shared by several test modules."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-desk"
FIXTURE_RULES = Path(__file__).resolve().parent / "fixtures" / "rules"

BASE_ANSWERS = {
    "project_name": "Test project",
    "use_case": "Classify support tickets by intent.",
    "task_type": "classification",
    "labeled_examples": 300,
    "budget_one_off": 5000,
    "budget_monthly": 500,
    "monthly_requests": 10000,
    "weeks_to_production": 8,
}

#: words that mark a sentence as English (none of them is a French word)
ENGLISH_MARKERS = frozenset(
    "the and of to is are with your that this would could from which when than its has have was were been into "
    "only does not what how it be by for if more each per runs run out still".split())


def english_left_in(report: str, keep: tuple[str, ...] = ()) -> list[str]:
    """The stretches of a markdown report (lines, or table cells) that still read as English: two or more English
    marker words outside code spans, links and ``keep`` (texts quoted as given, like a user's answers or a
    source's title)."""
    import re

    text = report.split("\n## Sources", 1)[0].replace("\\", "")
    for quoted in sorted(keep, key=len, reverse=True):
        if quoted:
            text = text.replace(quoted.replace("\\", ""), " ")
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"!?\[[^\]]*\]\([^)]*\)", " ", text)
    found = []
    for line in text.splitlines():
        for cell in line.split("|"):
            words = re.findall(r"[a-z']+", cell.lower())
            if sum(w in ENGLISH_MARKERS for w in words) >= 2:
                found.append(cell.strip())
    return found
