"""Decision: the rulebook, constraints and costs turned into a ranked, explained recommendation."""
