"""pitchrec: a feed recommender for talent networks."""

__version__ = "0.1.0"
