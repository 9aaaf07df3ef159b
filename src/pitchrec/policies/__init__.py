"""pitchrec.policies."""
