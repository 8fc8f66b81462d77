"""Speed of the hot paths (attacks, training steps, the robustness table) against their physical
floor (the model's own forward+backward passes) and the peer libraries (torchattacks, ART), all
measured in one process and one run. Entry point: ``aad bench`` (:func:`benchmarks.run.main`)."""
