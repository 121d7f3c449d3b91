"""C2PA signing and verification, and perceptual fingerprints, for provaudit.

This package sits at the bottom of provaudit's import graph: it imports none of
``generators``, ``detectors`` or ``service``, and never torch, so that the verify CLI
starts fast and installs light.
"""

__version__ = "0.1.0"
