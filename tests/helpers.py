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
