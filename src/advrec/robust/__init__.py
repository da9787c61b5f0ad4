"""Robustness: poisoning (shilling) attacks, perturbation attacks, detection and defences."""
