"""pitchrec.index."""
