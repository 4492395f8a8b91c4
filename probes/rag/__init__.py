"""The RAG probe: retrieval quality of the user's corpus for the user's questions, and open-book lift."""
