"""Store: the DuckDB file that holds assessments, decisions, probe runs, metrics and caches."""
