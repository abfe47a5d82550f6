"""Appearance features of person crops: the embedder protocol, OSNet, Open Model Zoo, the weights-free fallback."""
