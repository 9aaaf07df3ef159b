"""City normalisation of creators and users (spec 1.3), as one pure function.

The legacy loader maps a handful of spellings of the big Latin-American cities to one
canonical name with an **exact-match, case-sensitive** table, and leaves every other
value as trimmed. That is kept on purpose: the normalised city is a feature of the
ranking (same-city affinity), and changing which raw values collapse together changes
feeds. So ``"bogota"`` becomes ``"Bogotá"`` but ``"BOGOTA"`` and ``"Bogotá, D.C."`` stay
as they are, exactly as in the legacy service.

Blank cities become ``"Other-<country>"`` (trimmed country) or ``"Unknown"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: Raw (trimmed) value -> canonical city; the exact table of spec 1.3.
CITY_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Bogotá": "Bogotá",
        "Bogotá D.C.": "Bogotá",
        "Bogota": "Bogotá",
        "bogota": "Bogotá",
        "Medellin": "Medellín",
        "medellin": "Medellín",
        "Cali": "Cali",
        "cali": "Cali",
        "Barranquilla": "Barranquilla",
        "barranquilla": "Barranquilla",
        "Bucaramanga": "Bucaramanga",
        "Distrito Federal": "CDMX",
        "Ciudad de México": "CDMX",
        "Nuevo Leon": "Monterrey",
        "Nuevo León": "Monterrey",
    }
)

#: The city of a creator with neither city nor country.
UNKNOWN_CITY: Final = "Unknown"
#: Prefix of the city of a creator with a country but no city.
OTHER_PREFIX: Final = "Other-"


def clean(value: str | None) -> str:
    """``value`` trimmed of surrounding whitespace; NULL becomes ``''``."""
    return value.strip() if value else ""


def normalise_city(city: str | None, country: str | None) -> str:
    """The normalised city of a creator (spec 1.3).

    >>> normalise_city(" bogota ", "Colombia")
    'Bogotá'
    >>> normalise_city("BOGOTA", "Colombia")
    'BOGOTA'
    >>> normalise_city(None, " México ")
    'Other-México'
    >>> normalise_city("  ", None)
    'Unknown'
    """
    trimmed = clean(city)
    if not trimmed:
        nation = clean(country)
        return f"{OTHER_PREFIX}{nation}" if nation else UNKNOWN_CITY
    return CITY_ALIASES.get(trimmed, trimmed)
