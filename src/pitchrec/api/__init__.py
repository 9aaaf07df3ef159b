"""pitchrec.api."""
