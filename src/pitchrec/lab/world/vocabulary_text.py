"""Text fragments: the sentences of resume and challenge descriptions, challenge titles,
and the near-miss and test wordings of the rows the filters must treat apart.

Fixed tables, nothing random. Only :data:`TEST_DESCRIPTIONS` and :data:`TEST_SLUGS` hold
``test`` or ``prueba`` as a word, and :data:`NEAR_MISS_SENTENCES` inside longer words; no
other entry of any vocabulary table (:mod:`.vocabulary`) contains them at all.
"""

from __future__ import annotations

from typing import Final

RESUME_OPENINGS: Final[tuple[str, ...]] = (
    "Hola, soy {first}.",
    "¡Hola! Mi nombre es {first}.",
    "Soy {first}, de {city}.",
    "Me presento: {first}.",
    "Saludos desde {city}, soy {first}.",
)
RESUME_BODIES: Final[tuple[str, ...]] = (
    "Tengo {years} años de experiencia en {a} y {b}.",
    "Me especializo en {a}, con énfasis en {b}.",
    "He trabajado en proyectos de {a} y me apasiona {b}.",
    "Mi fortaleza es {a}; también manejo {b}.",
    "Estudié {a} y hoy aplico {b} en mi día a día.",
)
RESUME_CLOSINGS: Final[tuple[str, ...]] = (
    "Busco nuevas oportunidades en {city}.",
    "Quiero sumar a un equipo innovador.",
    "Estoy abierto a trabajo remoto.",
    "¡Conectemos!",
    "Me encantaría aportar a tu empresa.",
    "Disponible para prácticas y proyectos freelance.",
    "",
)
#: Sentences that contain "test"/"prueba" *inside* a longer word: they pass a word-level
#: filter but fail the legacy substring filter (spec D-C15).
NEAR_MISS_SENTENCES: Final[tuple[str, ...]] = (
    "Comparto el testimonio de mi último proyecto.",
    "Participé en la protesta creativa del barrio.",
    "Gané el contest regional de innovación.",
    "Te muestro lo latest de mi portafolio.",
    "Mi trabajo comprueba que la constancia paga.",
)
#: Descriptions with "test"/"prueba" as a word (ineligible, spec 1.2.1).
TEST_DESCRIPTIONS: Final[tuple[str, ...]] = (
    "video de prueba",
    "Esto es una prueba, no publicar",
    "test",
    "Test de carga del video",
    "PRUEBA 2",
    "subida de prueba desde la app",
)
TEST_SLUGS: Final[tuple[str, ...]] = ("test", "prueba", "video-de-prueba", "test-upload")

CHALLENGE_KINDS: Final[tuple[str, ...]] = (
    "Reto",
    "Convocatoria",
    "Buscamos",
    "Desafío",
    "Oportunidad",
    "Vacante",
)
CHALLENGE_ROLES: Final[tuple[str, ...]] = (
    "Desarrollador Python",
    "Diseñador UX/UI",
    "Analista de Datos",
    "Community Manager",
    "Ejecutivo de Ventas",
    "Contador Junior",
    "Auxiliar de Enfermería",
    "Docente de Inglés",
    "Productor Audiovisual",
    "Ingeniero Civil",
    "Chef de Partida",
    "Líder de Proyectos",
    "Especialista en Marketing Digital",
    "Asistente Administrativo",
    "Practicante de Comunicación",
)
CHALLENGE_SENTENCES: Final[tuple[str, ...]] = (
    "Cuéntanos en un video de un minuto por qué eres la persona ideal.",
    "Buscamos talento con ganas de aprender y crecer con nosotros.",
    "Ofrecemos trabajo híbrido, formación continua y un equipo increíble.",
    "Muéstranos cómo resolverías un reto real de nuestra compañía.",
    "La convocatoria cierra pronto: ¡postúlate ya!",
    "Valoramos la creatividad, la diversidad y el compromiso.",
)
