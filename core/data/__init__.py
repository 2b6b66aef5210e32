"""Training and evaluation data: loaders for the public layouts, alignment, subject-disjoint splits."""
