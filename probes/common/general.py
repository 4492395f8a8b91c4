"""The bundled samples of general text, one per language: everyday encyclopedic prose on common topics, against
which the domain-gap probe measures how unusual a team's text is and the LoRA trial measures forgetting."""

from __future__ import annotations

from pathlib import Path

from advisor.sentences import say

#: the bundled samples, by ISO 639-1 code (files in probes/common/)
GENERAL_SAMPLES = {"en": "general_text.txt", "fr": "general_text.fr.txt"}
#: how a report names each sample's language variety
GENERAL_NAMES = {"en": say("general English"), "fr": say("general French")}
#: how the LoRA trial's report names the sample its forgetting is measured on
SAMPLE_NAMES = {"en": say("a general-English sample"), "fr": say("a general-French sample")}


def bundled_general(language: str) -> Path | None:
    """The bundled general-text sample in ``language``, or ``None`` when there is none."""
    from advisor.resources import probe_data

    name = GENERAL_SAMPLES.get(language)
    return probe_data(name) if name else None
