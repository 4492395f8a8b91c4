"""The machinery every probe shares: the contract, the model interface and runtime, caching, statistics, data."""
