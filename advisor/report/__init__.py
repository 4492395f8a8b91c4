"""Report: the stored assessment rendered as markdown, HTML or JSON, with charts, in English or French."""
