"""Models learned from the history at snapshot build time (collaborative filtering)."""
