"""CLI commands, one small module each. Stage logic lives outside this package."""
