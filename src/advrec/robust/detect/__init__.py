"""Detection of fake (shilling) profiles and defences against poisoning.

* :mod:`~advrec.robust.detect.features`: per-profile features (RDMA, WDMA, WDA, length
  variance, DegSim, item popularity), vectorised over the sparse matrix.
* :mod:`~advrec.robust.detect.pca`, :mod:`~advrec.robust.detect.detectors`: the unsupervised
  detectors (PCA-VarSelect of Mehta & Nejdl 2009, a feature-outlier baseline) and the
  flagging rule, precision / recall / F1.
* :mod:`~advrec.robust.detect.supervised`: a classifier trained on fakes of other attack kinds
  and seeds.
* :mod:`~advrec.robust.detect.stage`: the ``defend-detect`` data stage (remove or down-weight
  the flagged users after an attack stage).
"""

from advrec.robust.detect.detectors import Detector, FeatureOutlier, PCAVarSelect, detection_metrics, flag_users
from advrec.robust.detect.features import PROFILE_FEATURES, RATING_FEATURES, profile_features
from advrec.robust.detect.pca import pca_varselect_scores
from advrec.robust.detect.stage import DEFENCES, DefendDetect, DefendParams
from advrec.robust.detect.supervised import SupervisedDetector, training_attacks

#: detectors of the ``defend-detect`` stage and the ``detection`` evaluation, by name
DETECTORS: tuple[str, ...] = ("pca-varselect", "feature-outlier", "supervised")

__all__ = ["DEFENCES", "DETECTORS", "PROFILE_FEATURES", "RATING_FEATURES", "DefendDetect", "DefendParams",
           "Detector", "FeatureOutlier", "PCAVarSelect", "SupervisedDetector", "detection_metrics", "flag_users",
           "pca_varselect_scores", "profile_features", "training_attacks"]
