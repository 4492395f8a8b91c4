"""The domain-gap probe: how surprising the user's text is to a language model, against general English."""
