"""pitchrec.ranking."""
