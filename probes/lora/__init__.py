"""The LoRA probe: adapters trained on growing subsets of the user's data, and the learning curve."""
