"""Intake: the answers (one pydantic model), answers files, the questionnaire's logic and its draft."""
