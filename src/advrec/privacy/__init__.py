"""Privacy: attribute- and membership-inference audits, adversarial attribute removal,
differentially private training and synthetic data release (docs/privacy.md)."""

from advrec.privacy.attributes import (
    PRIVATE_ATTRIBUTES,
    AttributeLabels,
    all_labels,
    attribute_labels,
    parse_attributes,
)

__all__ = ["PRIVATE_ATTRIBUTES", "AttributeLabels", "all_labels", "attribute_labels", "parse_attributes"]
