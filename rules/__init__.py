"""The built-in rulebook: YAML rules, strategies, decision factors and cost assumptions (data, no code)."""
