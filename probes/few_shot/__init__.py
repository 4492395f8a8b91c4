"""The few-shot probe: k-shot prompting accuracy on the user's task, on the probe model or the target."""
