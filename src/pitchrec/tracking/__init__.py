"""pitchrec.tracking."""
