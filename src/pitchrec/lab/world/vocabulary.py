"""Fixed vocabularies of the synthetic world: skills by cluster, places with their raw city
spellings, Spanish names and text fragments.

Nothing here is random; the generators draw from these tables. No entry contains the words
``test`` or ``prueba`` (not even as a substring): the generator adds those on purpose, to
the rows that must fail the resume and challenge filters.
"""

from __future__ import annotations

from typing import Final

#: Skill clusters. A user's latent taste is concentrated on one to three clusters and a
#: resume's skills are drawn mostly from one; the last cluster (soft skills) is sprinkled
#: over every resume and never defines a taste.
SKILL_CLUSTERS: Final[tuple[tuple[str, ...], ...]] = (
    ("Python", "JavaScript", "Java", "SQL", "React", "Node.js", "Desarrollo Web",
     "Desarrollo Móvil", "DevOps", "AWS", "Ciberseguridad", "Inteligencia Artificial",
     "Machine Learning", "Análisis de Datos", "Power BI"),
    ("Diseño UX", "Diseño UI", "Diseño Gráfico", "Figma", "Adobe Photoshop", "Illustrator",
     "Ilustración", "Branding", "Diseño Industrial", "Animación 3D", "Fotografía",
     "Edición de Video"),
    ("Marketing Digital", "SEO", "SEM", "Redes Sociales", "Community Management",
     "Content Marketing", "Copywriting", "Email Marketing", "Growth Hacking", "Google Ads",
     "Marketing de Influencers", "Estrategia de Marca"),
    ("Ventas", "Negociación", "Atención al Cliente", "CRM", "Salesforce", "Ventas B2B",
     "Prospección", "Servicio al Cliente", "Telemercadeo", "Gestión de Cuentas",
     "Trade Marketing", "Retail"),
    ("Contabilidad", "Finanzas", "Excel", "Análisis Financiero", "Auditoría", "Tributaria",
     "Presupuestos", "Tesorería", "Facturación", "SAP", "NIIF", "Costos"),
    ("Recursos Humanos", "Selección de Personal", "Nómina", "Gestión de Proyectos", "Scrum",
     "Administración", "Logística", "Cadena de Suministro", "Compras", "Gestión del Talento",
     "Planeación Estratégica", "Office"),
    ("Enfermería", "Primeros Auxilios", "Atención al Paciente", "Farmacia", "Nutrición",
     "Psicología", "Fisioterapia", "Salud Ocupacional", "Odontología", "Bienestar"),
    ("Docencia", "Pedagogía", "Tutoría", "E-learning", "Inglés como Segunda Lengua",
     "Formación Corporativa", "Investigación", "Redacción Académica",
     "Orientación Vocacional", "Educación Infantil"),
    ("Comunicación", "Periodismo", "Oratoria", "Locución", "Producción Audiovisual", "Guion",
     "Storytelling", "Relaciones Públicas", "Música", "Fotografía de Producto"),
    ("AutoCAD", "Ingeniería Civil", "Mantenimiento Industrial", "Electricidad", "Mecánica",
     "Energías Renovables", "Control de Calidad", "Lean Manufacturing", "Seguridad Industrial",
     "Topografía", "Construcción", "SolidWorks"),
    ("Cocina", "Barismo", "Hotelería", "Turismo", "Eventos", "Bartender", "Servicio de Mesa",
     "Repostería", "Recepción", "Gastronomía"),
    ("Liderazgo", "Trabajo en Equipo", "Comunicación Asertiva", "Resolución de Problemas",
     "Pensamiento Crítico", "Creatividad", "Adaptabilidad", "Gestión del Tiempo",
     "Inteligencia Emocional", "Emprendimiento", "Proactividad", "Orientación al Logro"),
)  # fmt: skip

SKILLS: Final[tuple[str, ...]] = tuple(s for cluster in SKILL_CLUSTERS for s in cluster)
#: Cluster number of each entry of :data:`SKILLS`.
SKILL_CLUSTER_OF: Final[tuple[int, ...]] = tuple(
    c for c, cluster in enumerate(SKILL_CLUSTERS) for _ in cluster
)
N_TASTE_CLUSTERS: Final[int] = len(SKILL_CLUSTERS) - 1  # the soft-skill cluster is excluded

KNOWLEDGES: Final[tuple[str, ...]] = (
    "Metodologías Ágiles", "Estadística", "Economía", "Derecho Laboral",
    "Psicología Organizacional",
    "Comercio Exterior", "Gestión Ambiental", "Transformación Digital", "Innovación",
    "Experiencia de Usuario", "Neuromarketing", "Finanzas Personales", "Sostenibilidad",
    "Gestión de Riesgos", "Educación Financiera", "Salud Pública",
)  # fmt: skip
TOOLS: Final[tuple[str, ...]] = (
    "Excel", "Google Sheets", "Notion", "Trello", "Jira", "Slack", "Canva", "Figma", "Git",
    "Docker", "Tableau", "HubSpot", "WordPress", "Premiere Pro", "After Effects", "Zoom",
    "Miro", "Asana", "Shopify", "SAP",
)  # fmt: skip
LANGUAGES: Final[tuple[str, ...]] = (
    "Español",
    "Inglés",
    "Portugués",
    "Francés",
    "Alemán",
    "Italiano",
)
LANGUAGE_WEIGHTS: Final[tuple[float, ...]] = (0.0, 0.55, 0.15, 0.12, 0.05, 0.05)
ROLE_OBJECTIVES: Final[tuple[str, ...]] = (
    "be_discovered", "find_job", "hire", "networking", "freelance", "learn", "mentor",
)  # fmt: skip
HOBBIES: Final[tuple[str, ...]] = (
    "Fútbol", "Lectura", "Cine", "Música", "Viajar", "Cocinar", "Ciclismo", "Yoga",
    "Fotografía", "Videojuegos", "Senderismo", "Baile", "Natación", "Ajedrez", "Pintura",
)  # fmt: skip
TYPE_TALENTEES: Final[tuple[str, ...]] = (
    "innovators",
    "talents",
    "companies",
    "universities",
    "mentors",
)
OPENCALL_OBJECTIVES: Final[tuple[str, ...]] = (
    "Conseguir mi primer empleo", "Cambiar de sector", "Crecer profesionalmente",
    "Encontrar talento para mi equipo", "Emprender", "Conocer oportunidades de práctica",
)  # fmt: skip

# --- places -----------------------------------------------------------------------------

#: (canonical city, country, weight, raw spellings with relative weights). The canonical
#: name is what a correct normaliser should produce; for the spellings in the legacy table
#: (spec 1.3) it is exactly the legacy result. Spellings outside that table ('BOGOTA',
#: 'Bogotá, D.C.', ' Bogotá ' with blanks) are kept raw by the legacy normaliser.
PLACES: Final[tuple[tuple[str, str, float, tuple[tuple[str, float], ...]], ...]] = (
    ("Bogotá", "Colombia", 0.28, (
        ("Bogotá", 0.42), ("Bogotá D.C.", 0.18), ("Bogota", 0.14), ("bogota", 0.06),
        ("BOGOTA", 0.06), ("Bogotá, D.C.", 0.08), (" Bogotá ", 0.06))),
    ("Medellín", "Colombia", 0.13, (("Medellin", 0.5), ("medellin", 0.15), ("Medellín", 0.35))),
    ("Cali", "Colombia", 0.07, (("Cali", 0.8), ("cali", 0.2))),
    ("Barranquilla", "Colombia", 0.05, (("Barranquilla", 0.8), ("barranquilla", 0.2))),
    ("Bucaramanga", "Colombia", 0.03, (("Bucaramanga", 1.0),)),
    ("Cartagena", "Colombia", 0.03, (("Cartagena", 0.7), ("Cartagena de Indias", 0.3))),
    ("Pereira", "Colombia", 0.02, (("Pereira", 1.0),)),
    ("CDMX", "México", 0.08, (
        ("Ciudad de México", 0.5), ("Distrito Federal", 0.3), ("CDMX", 0.2))),
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
)  # fmt: skip

# --- people -----------------------------------------------------------------------------

FIRST_NAMES: Final[tuple[str, ...]] = (
    "José", "María", "Andrés", "Sofía", "Julián", "Camila", "Sebastián", "Valentina",
    "Nicolás", "Ángela", "Martín", "Lucía", "Tomás", "Daniela", "Iván", "Mónica", "Raúl",
    "Natalia", "Óscar", "Verónica", "Jesús", "Inés", "Simón", "Paula", "Germán", "Beatriz",
    "Ramón", "Catalina", "Joaquín", "Zoé", "Juan", "Luis", "Carlos", "Ana", "Laura", "Diego",
    "Felipe", "Juliana", "Alejandro", "Mariana", "Santiago", "Isabella", "Mateo", "Gabriela",
    "David", "Carolina", "Jhon", "Yésica", "Héctor", "Maryuri", "Fabián", "Lorena", "Cristian",
    "Paola", "Efraín", "Rocío", "Agustín", "Marisol", "Emilio", "Estefanía",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Pérez", "Gómez", "Rodríguez", "González", "Martínez", "Hernández", "López", "Díaz",
    "Sánchez", "Ramírez", "Torres", "Vásquez", "Jiménez", "Suárez", "Muñoz", "Rojas", "Ortiz",
    "Castaño", "Peña", "Ibáñez", "Núñez", "Cárdenas", "Quiñones", "Londoño", "Restrepo",
    "Zúñiga", "Ospina", "Álvarez", "Gutiérrez", "Fernández", "Báez", "Espinosa", "Moreno",
    "Castro", "Vargas", "Romero", "Herrera", "Medina", "Aguilar", "Cortés", "Salazar",
    "Mejía", "Ríos", "Guzmán", "Acuña", "Bermúdez", "Ávila", "Chávez", "Ñañez", "Montaño",
)  # fmt: skip
ORG_PREFIXES: Final[tuple[str, ...]] = (
    "Grupo", "Fundación", "Innova", "Corporación", "Laboratorio", "Agencia", "Red",
    "Cooperativa", "Estudio", "Compañía",
)  # fmt: skip
ORG_STEMS: Final[tuple[str, ...]] = (
    "Andino", "del Pacífico", "Montaña", "Caribe", "Semillas", "Horizonte", "Cóndor",
    "Guadua", "Volcán", "Café Alto", "Nevado", "Sabana", "Orquídea", "Páramo", "Ceiba",
)  # fmt: skip
ORG_SUFFIXES: Final[tuple[str, ...]] = ("S.A.S.", "S.A.", "Ltda.", "", "", "Digital", "Labs")

# --- text -------------------------------------------------------------------------------

RESUME_OPENINGS: Final[tuple[str, ...]] = (
    "Hola, soy {first}.", "¡Hola! Mi nombre es {first}.", "Soy {first}, de {city}.",
    "Me presento: {first}.", "Saludos desde {city}, soy {first}.",
)  # fmt: skip
RESUME_BODIES: Final[tuple[str, ...]] = (
    "Tengo {years} años de experiencia en {a} y {b}.",
    "Me especializo en {a}, con énfasis en {b}.",
    "He trabajado en proyectos de {a} y me apasiona {b}.",
    "Mi fortaleza es {a}; también manejo {b}.",
    "Estudié {a} y hoy aplico {b} en mi día a día.",
)
RESUME_CLOSINGS: Final[tuple[str, ...]] = (
    "Busco nuevas oportunidades en {city}.", "Quiero sumar a un equipo innovador.",
    "Estoy abierto a trabajo remoto.", "¡Conectemos!", "Me encantaría aportar a tu empresa.",
    "Disponible para prácticas y proyectos freelance.", "",
)  # fmt: skip
#: Sentences that contain "test"/"prueba" *inside* a longer word: they pass a word-level
#: filter but fail the legacy substring filter (spec D-C15).
NEAR_MISS_SENTENCES: Final[tuple[str, ...]] = (
    "Comparto el testimonio de mi último proyecto.",
    "Participé en la protesta creativa del barrio.",
    "Gané el contest regional de innovación.", "Te muestro lo latest de mi portafolio.",
    "Mi trabajo comprueba que la constancia paga.",
)  # fmt: skip
#: Descriptions with "test"/"prueba" as a word (ineligible, spec 1.2.1).
TEST_DESCRIPTIONS: Final[tuple[str, ...]] = (
    "video de prueba", "Esto es una prueba, no publicar", "test", "Test de carga del video",
    "PRUEBA 2", "subida de prueba desde la app",
)  # fmt: skip
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
    "Desarrollador Python", "Diseñador UX/UI", "Analista de Datos", "Community Manager",
    "Ejecutivo de Ventas", "Contador Junior", "Auxiliar de Enfermería", "Docente de Inglés",
    "Productor Audiovisual", "Ingeniero Civil", "Chef de Partida", "Líder de Proyectos",
    "Especialista en Marketing Digital", "Asistente Administrativo", "Practicante de Comunicación",
)  # fmt: skip
CHALLENGE_SENTENCES: Final[tuple[str, ...]] = (
    "Cuéntanos en un video de un minuto por qué eres la persona ideal.",
    "Buscamos talento con ganas de aprender y crecer con nosotros.",
    "Ofrecemos trabajo híbrido, formación continua y un equipo increíble.",
    "Muéstranos cómo resolverías un reto real de nuestra compañía.",
    "La convocatoria cierra pronto: ¡postúlate ya!",
    "Valoramos la creatividad, la diversidad y el compromiso.",
)
