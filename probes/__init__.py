"""Probes: cheap, real experiments on the user's data that produce evidence for the rulebook.

Every probe implements :class:`advisor.probes.common.base.Probe` and is listed in
:mod:`advisor.probes.registry`. Heavy libraries (torch, transformers, peft,
sentence-transformers) are imported inside probe code only, never at package import.
"""
