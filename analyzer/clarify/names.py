"""Clarify's bias metric names, by stage, and the descriptions its analysis.json carries."""

from __future__ import annotations

# The first line of each metric's docstring in smclarify: analysis.json's `description`.
DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Liebler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "SD": "Specificity Difference (SD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "AD": "Accuracy Difference (AD)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
    "TE": "Treatment Equality (TE)",
    "FT": "Flip Test (FT)",
    "GE": "Generalized Entropy (GE)",
}
PRE_TRAINING = ("CDDL", "CI", "DPL", "JS", "KL", "KS", "LP", "TVD")
POST_TRAINING = (
    "AD",
    "CDDPL",
    "DAR",
    "DCA",
    "DCR",
    "DI",
    "DPPL",
    "DRR",
    "FT",
    "GE",
    "RD",
    "SD",
    "TE",
)
# Computed only when named, not for "all": FT trains a k-nearest-neighbours model on every
# feature of every row (scikit-learn, which shap brings).
ON_REQUEST = frozenset({"FT"})
# Metrics that need no ground truth: a monitoring run computes them over every capture.
LABEL_FREE = frozenset({"CI", "DPPL", "DI", "CDDPL", "FT"})
# Metrics whose neutral value is 1, not 0 (see checking: "worse than the baseline").
NEUTRAL_ONE = frozenset({"DI"})
