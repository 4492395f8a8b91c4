"""Costs: what each strategy costs at the team's volume, from the assumptions in rules/costs.yaml."""
