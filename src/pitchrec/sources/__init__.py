"""pitchrec.sources."""
