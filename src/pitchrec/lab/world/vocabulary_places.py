"""Where people and items are: canonical cities with their countries, weights and the raw
spellings users type.

Fixed tables, nothing random. No entry contains ``test`` or ``prueba``, not even as a
substring (see :mod:`.vocabulary`).
"""

from __future__ import annotations

from typing import Final

#: (canonical city, country, weight, raw spellings with relative weights). The canonical
#: name is what a correct normaliser should produce; for the spellings in the legacy table
#: (spec 1.3) it is exactly the legacy result. Spellings outside that table ('BOGOTA',
#: 'Bogotá, D.C.', ' Bogotá ' with blanks) are kept raw by the legacy normaliser.
PLACES: Final[tuple[tuple[str, str, float, tuple[tuple[str, float], ...]], ...]] = (
    (
        "Bogotá",
        "Colombia",
        0.28,
        (
            ("Bogotá", 0.42),
            ("Bogotá D.C.", 0.18),
            ("Bogota", 0.14),
            ("bogota", 0.06),
            ("BOGOTA", 0.06),
            ("Bogotá, D.C.", 0.08),
            (" Bogotá ", 0.06),
        ),
    ),
    ("Medellín", "Colombia", 0.13, (("Medellin", 0.5), ("medellin", 0.15), ("Medellín", 0.35))),
    ("Cali", "Colombia", 0.07, (("Cali", 0.8), ("cali", 0.2))),
    ("Barranquilla", "Colombia", 0.05, (("Barranquilla", 0.8), ("barranquilla", 0.2))),
    ("Bucaramanga", "Colombia", 0.03, (("Bucaramanga", 1.0),)),
    ("Cartagena", "Colombia", 0.03, (("Cartagena", 0.7), ("Cartagena de Indias", 0.3))),
    ("Pereira", "Colombia", 0.02, (("Pereira", 1.0),)),
    ("CDMX", "México", 0.08, (("Ciudad de México", 0.5), ("Distrito Federal", 0.3), ("CDMX", 0.2))),
    ("Monterrey", "México", 0.04, (("Nuevo Leon", 0.45), ("Nuevo León", 0.35), ("Monterrey", 0.2))),
    ("Guadalajara", "México", 0.03, (("Guadalajara", 1.0),)),
    ("Lima", "Perú", 0.06, (("Lima", 1.0),)),
    ("Santiago", "Chile", 0.04, (("Santiago", 0.8), ("Santiago de Chile", 0.2))),
    ("Quito", "Ecuador", 0.03, (("Quito", 1.0),)),
    ("Buenos Aires", "Argentina", 0.04, (("Buenos Aires", 0.85), ("CABA", 0.15))),
    ("Caracas", "Venezuela", 0.02, (("Caracas", 1.0),)),
    ("Ciudad de Panamá", "Panamá", 0.01, (("Ciudad de Panamá", 0.6), ("Panamá", 0.4))),
    ("San José", "Costa Rica", 0.01, (("San José", 1.0),)),
    ("Madrid", "España", 0.02, (("Madrid", 1.0),)),
    ("Miami", "Estados Unidos", 0.01, (("Miami", 1.0),)),
    ("São Paulo", "Brasil", 0.01, (("São Paulo", 0.7), ("Sao Paulo", 0.3))),
)
