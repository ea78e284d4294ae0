"""Client facades over the shared engine core."""
