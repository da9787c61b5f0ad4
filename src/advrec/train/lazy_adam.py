"""Adam that updates only the rows a sparse gradient touches ("lazy" Adam).

Large embedding-like tables (one row per item) receive sparse gradients; a dense Adam step
over the whole table would cost ``O(rows x dim)`` per mini-batch whatever the batch touches.
:class:`LazyAdam` applies the usual Adam update to dense gradients and, for sparse ones,
updates the parameter and moment rows present in the gradient only (the moments of other
rows are not decayed, as in ``torch.optim.SparseAdam``). ``weight_decay`` is coupled L2
(added to the gradient), applied to the touched rows of sparse parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class LazyAdam(torch.optim.Optimizer):
    """Adam for a mix of dense and sparse gradients.

    Parameters
    ----------
    params
        Parameters (or parameter groups).
    lr, betas, eps, weight_decay
        As in :class:`torch.optim.Adam` (coupled L2 weight decay).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if lr <= 0 or eps <= 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"LazyAdam: bad hyper-parameters lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients; sparse ones are always dropped (a zeroed sparse tensor keeps its indices)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and (set_to_none or p.grad.is_sparse):
                    p.grad = None
                elif p.grad is not None:
                    p.grad.detach_()
                    p.grad.zero_()

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def]
        """One update of every parameter with a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                c1, c2 = 1 - b1 ** t, 1 - b2 ** t
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if p.grad.is_sparse:
                    g = p.grad.coalesce()  # unique rows
                    rows, vals = g.indices()[0], g.values()
                    if wd:
                        vals = vals + wd * p.index_select(0, rows)
                    m_rows = m.index_select(0, rows).mul_(b1).add_(vals, alpha=1 - b1)
                    v_rows = v.index_select(0, rows).mul_(b2).addcmul_(vals, vals, value=1 - b2)
                    m.index_copy_(0, rows, m_rows)
                    v.index_copy_(0, rows, v_rows)
                    p.index_add_(0, rows, m_rows.div_(v_rows.div_(c2).sqrt_().add_(eps)).mul_(-lr / c1))
                else:
                    g = p.grad if not wd else p.grad.add(p, alpha=wd)
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    p.addcdiv_(m, v.div(c2).sqrt_().add_(eps), value=-lr / c1)
        return loss
