"""The support model: features by hand, the logistic fit, round trip."""

from __future__ import annotations

import pytest
import torch

from rag_attrib.support import SupportModel, features, fit_logistic

SIGNALS = {"shares": [0.1, 0.4, 0.2], "grounding": 0.7, "tokens": 4, "lp_all": -8.0, "lp_none": -20.0,
           "lp_without_tops": -14.0}


def test_features_by_hand():
    assert features(SIGNALS) == {"best_share": 0.4, "grounding": 0.7, "gain_per_token": 3.0, "drop_per_token": 1.5,
                                 "lp_per_token": -2.0}


def test_the_fit_separates_what_is_separable_and_is_calibrated_at_the_middle():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 2, generator=g, dtype=torch.float64)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * torch.randn(400, generator=g, dtype=torch.float64) > 0).double()
    model = fit_logistic(x, y, ["a", "b"], l2=0.1)
    assert model.weights[0] > 0 > model.weights[1]  # the direction that generated the labels
    p = model.probability(x)
    assert ((p > 0.5).double() == y).double().mean() > 0.9
    assert abs(float(p.mean()) - float(y.mean())) < 0.02  # a logistic fit with a bias matches the base rate


def test_round_trip_and_call_on_signals():
    model = SupportModel(("best_share", "gain_per_token"), (2.0, 1.0), -0.5, (0.3, 1.0), (0.1, 2.0))
    assert SupportModel.from_dict(model.to_dict()) == model
    z = 2.0 * (0.4 - 0.3) / 0.1 + 1.0 * (3.0 - 1.0) / 2.0 - 0.5
    assert model(SIGNALS) == pytest.approx(1 / (1 + torch.exp(torch.tensor(-z)).item()))
