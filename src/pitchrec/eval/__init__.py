"""pitchrec.eval."""
