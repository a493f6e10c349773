import torch

from training.convex_fit import minimise, standardised


def test_standardised_features_have_zero_mean_unit_spread_and_a_floor_on_the_scale():
    varying = torch.randn(200, 3) * torch.tensor([5.0, 0.5, 2.0]) + torch.tensor([1.0, -3.0, 0.0])
    constant = torch.full((200, 1), 7.0)
    x, mean, scale = standardised(torch.cat([varying, constant], dim=1), min_scale=0.05)
    assert torch.allclose(x.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(x[:, :3].std(0), torch.ones(3), atol=1e-5)
    assert scale[3] == 0.05  # a constant column is divided by the floor, not by zero
    assert torch.all(x[:, 3] == 0)
    assert torch.allclose(mean[3], torch.tensor(7.0))


def test_minimise_reaches_the_minimum_of_a_convex_loss():
    target = torch.tensor([2.0, -1.0, 0.5])
    w = torch.zeros(3, requires_grad=True)
    minimise([w], lambda: ((w - target) ** 2).sum() + 0.1 * (w * w).sum(), iterations=100)
    assert torch.allclose(w.detach(), target / 1.1, atol=1e-4)
