"""What every fit after training shares: standardised inputs and L-BFGS run to convergence.

Once training ends, the classification heads (`training.head_fit`) and the condition head
(`training.grade_fit`) are refitted on fixed features, where the loss is convex; both fit on
standardised features and map the weights back to raw inputs afterwards. Temperature scaling
(`training.calibrate`) minimises its one-parameter loss the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def standardised(features: torch.Tensor, min_scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, F) features -> (standardised features, mean, scale). The floor on the scale keeps
    a feature that barely varies from getting a huge weight from its noise."""
    mean, scale = features.mean(0), features.std(0).clamp(min=min_scale)
    return (features - mean) / scale, mean, scale


def minimise(
    parameters: list[torch.Tensor], loss: Callable[[], torch.Tensor], iterations: int, lr: float = 1.0
) -> None:
    """Minimise `loss` over `parameters` (leaf tensors that require grad) with L-BFGS and a
    strong-Wolfe line search, at most `iterations` steps from a first step scaled by `lr`."""
    optimiser = torch.optim.LBFGS(parameters, lr=lr, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = loss()
        value.backward()
        return value

    optimiser.step(closure)
