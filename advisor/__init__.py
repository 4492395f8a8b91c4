"""advisor: decide between prompt engineering, RAG and fine-tuning from evidence on your own data."""

__version__ = "0.1.0"
