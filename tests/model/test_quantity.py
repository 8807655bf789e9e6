from decimal import Decimal

import pytest

from minnova_idp.model.quantity import QuantityError, parse_quantity


@pytest.mark.parametrize("text,value", [
    ("5Gi", Decimal(5 * 2**30)), ("512Mi", Decimal(512 * 2**20)), ("250m", Decimal("0.25")),
    ("2", Decimal(2)), ("1.5", Decimal("1.5")), ("1e3", Decimal(1000)), ("1k", Decimal(1000)), ("3G", Decimal(3e9)),
])
def test_parses_like_kubernetes(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text,hint", [("5GB", "5Gi"), ("5gb", "5Gi"), ("100MB", "100Mi"), ("1 Gi", "1Gi"),
                                       ("5 G", "5Gi")])
def test_lookalike_units_get_a_suggestion(text, hint):
    with pytest.raises(QuantityError, match=f"did you mean '{hint}'"):
        parse_quantity(text)


@pytest.mark.parametrize("text", ["", "Gi", "5Gib", "five", "5.5.5Gi", "0x10"])
def test_rejects_non_quantities(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize("text,message", [
    ("1e99999999", "the exponent is out of range"),  # Decimal overflow (exit 70) before
    ("1e-99999999", "the exponent is out of range"),
    ("9.3e18", "larger than any Kubernetes quantity"),
    ("1e19", "the exponent is out of range"),
    ("8Ei", "larger than any Kubernetes quantity"),  # 2^63: Kubernetes caps at 2^63-1
    ("1" + "0" * 64, "a quantity of 65 characters"),  # accepted before, however long
    (5, "int value is not a Kubernetes quantity"),  # a number from JSON: TypeError before
])
def test_absurd_quantities_are_refused_before_any_arithmetic(text, message):
    with pytest.raises(QuantityError, match=message):
        parse_quantity(text)


def test_the_largest_quantities_still_parse():
    assert parse_quantity("7Ei") == Decimal(7 * 2**60)
    assert parse_quantity("1e18") == Decimal(10**18)
    assert parse_quantity("1e-18") == Decimal("1e-18")
    assert parse_quantity("9" * 18) == Decimal("9" * 18)
