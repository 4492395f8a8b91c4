"""The report's jinja2 templates and their translations (data, no code)."""
