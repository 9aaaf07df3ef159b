"""City normalisation (spec 1.3)."""

from __future__ import annotations

import pytest

from pitchrec.sources.cities import CITY_ALIASES, normalise_city


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bogotá", "Bogotá"),
        ("Bogotá D.C.", "Bogotá"),
        ("Bogota", "Bogotá"),
        ("bogota", "Bogotá"),
        ("Medellin", "Medellín"),
        ("medellin", "Medellín"),
        ("Cali", "Cali"),
        ("cali", "Cali"),
        ("Barranquilla", "Barranquilla"),
        ("barranquilla", "Barranquilla"),
        ("Bucaramanga", "Bucaramanga"),
        ("Distrito Federal", "CDMX"),
        ("Ciudad de México", "CDMX"),
        ("Nuevo Leon", "Monterrey"),
        ("Nuevo León", "Monterrey"),
    ],
)
def test_table_of_the_spec(raw: str, expected: str) -> None:
    assert normalise_city(raw, "Colombia") == expected


def test_table_has_exactly_the_spec_entries() -> None:
    assert len(CITY_ALIASES) == 15


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BOGOTA", "BOGOTA"),  # exact, case-sensitive match: kept as trimmed
        ("Bogotá, D.C.", "Bogotá, D.C."),
        ("MEDELLIN", "MEDELLIN"),
        ("  bogota\t", "Bogotá"),  # trimmed before the lookup
        (" Lima ", "Lima"),
        ("São Paulo", "São Paulo"),
    ],
)
def test_other_values_are_kept_trimmed(raw: str, expected: str) -> None:
    assert normalise_city(raw, "") == expected


@pytest.mark.parametrize(
    ("city", "country", "expected"),
    [
        (None, "Colombia", "Other-Colombia"),
        ("", " México ", "Other-México"),
        ("   ", "Perú", "Other-Perú"),
        (None, None, "Unknown"),
        ("", "  ", "Unknown"),
        (" ", None, "Unknown"),
    ],
)
def test_blank_city(city: str | None, country: str | None, expected: str) -> None:
    assert normalise_city(city, country) == expected
