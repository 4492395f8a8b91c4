"""Evidence: which probes an assessment runs within its budget, their recorded runs, and what they mean."""
