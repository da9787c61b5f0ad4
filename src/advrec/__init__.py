"""advrec: adversarial learning for recommender systems.

The public surface is small: :class:`~advrec.data.Interactions` holds the data,
:class:`~advrec.data.Split` holds train / valid / test, every model follows the
:class:`~advrec.models.Recommender` contract and :class:`~advrec.eval.Evaluator`
ranks all items for every test user.
"""

__version__ = "0.1.0"
