"""The staffing settings refuse a target of 100% or more and a negative shrinkage at start-up,
naming the setting, so a bad environment never reaches the Erlang search."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callctl.settings import Settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CALLCTL_FORECAST_SERVICE_LEVEL_TARGET", "101"),
        ("CALLCTL_FORECAST_SERVICE_LEVEL_TARGET", "100"),
        ("CALLCTL_FORECAST_SERVICE_LEVEL_TARGET", "0"),
        ("CALLCTL_FORECAST_ANSWER_RATE_TARGET", "150"),
        ("CALLCTL_FORECAST_SHRINKAGE", "-5"),
        ("CALLCTL_FORECAST_SHRINKAGE", "100"),
        ("CALLCTL_FORECAST_SHRINKAGE", "nan"),
        ("CALLCTL_FORECAST_SERVICE_LEVEL_S", "-1"),
    ],
)
def test_out_of_range_staffing_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    field = variable.removeprefix("CALLCTL_").lower()
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


def test_in_range_staffing_settings_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCTL_FORECAST_SERVICE_LEVEL_TARGET", "80")
    monkeypatch.setenv("CALLCTL_FORECAST_SHRINKAGE", "0")
    settings = Settings()
    assert (settings.forecast_service_level_target, settings.forecast_shrinkage) == (80.0, 0.0)
