"""advrec: adversarial learning for recommender systems.

The public surface is small: :class:`~advrec.data.Interactions` holds the data,
:class:`~advrec.data.Split` holds train / valid / test, every model follows the
:class:`~advrec.models.Recommender` contract and :class:`~advrec.eval.Evaluator`
ranks all items for every test user.
"""

import os as _os

# OpenMP threads that spin while waiting make every small torch op cost a scheduler
# slice (~8 ms) when the cores are busy with other work (measured: 250x slower BPR
# epochs on a loaded 2-core machine). Passive waiting avoids that; it only takes
# effect when advrec is imported before torch, and an explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
