"""One table of error codes, read by the API (requests) and by runs and deployments alike."""

from __future__ import annotations

from caffebatch import errors


def test_a_model_error_has_a_precise_request_code_and_a_family_run_code() -> None:
    error = errors.WeightsError("the blob does not fit")
    assert errors.code_of(error) == "invalid_weights"
    assert errors.code_of(error, run=True) == "model_error"
    assert errors.code_of(errors.ModelError("x")) == "invalid_model"
    assert errors.code_of(errors.TransientStorageError("x"), run=True) == "storage_error"


def test_an_error_with_its_own_code_keeps_it_and_a_foreign_one_has_none() -> None:
    assert errors.code_of(errors.RunError("error_threshold", "too many")) == "error_threshold"
    assert errors.code_of(errors.LimitExceededError("no more"), run=True) == "plan_limit_exceeded"
    assert errors.code_of(ValueError("code")) is None


def test_the_most_specific_class_wins() -> None:
    table = {errors.StorageError: 502, errors.ObjectNotFoundError: 404}
    assert errors.most_specific(table, errors.ObjectNotFoundError("gone")) == 404
    assert errors.most_specific(table, errors.AccessDeniedError("no")) == 502
    assert errors.most_specific(table, errors.ModelError("x")) is None
