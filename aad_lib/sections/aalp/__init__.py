"""AALP: adaptive adversarial logits pairing (Guided Dropout on the penultimate layer and the
confidence-weighted ALP loss) against standard, Madry, ALP and TRADES training, and the paper's data
analysis of feature contributions and consistent/inconsistent samples (notebooks 01-03)."""
