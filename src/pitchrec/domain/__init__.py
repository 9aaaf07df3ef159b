"""pitchrec.domain."""
