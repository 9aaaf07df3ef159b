"""String building: person and organisation names, JSON list text, Spanish descriptions,
slugs and media URLs. Everything takes its randomness from the caller's generator."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence

import numpy as np

from pitchrec.lab.world import vocabulary as vocab
from pitchrec.lab.world.common import Ints

MEDIA = "https://media.talentpitch.co"


def person_names(rng: np.random.Generator, n: int) -> list[str | None]:
    """Spanish/Latin names with accents; ~4% NULL, a few in odd case or with blanks."""
    first = np.asarray(vocab.FIRST_NAMES, dtype=object)
    last = np.asarray(vocab.LAST_NAMES, dtype=object)
    f = first[rng.integers(0, len(first), n)]
    f2 = first[rng.integers(0, len(first), n)]
    l1 = last[rng.integers(0, len(last), n)]
    l2 = last[rng.integers(0, len(last), n)]
    shape = rng.random(n)
    out: list[str | None] = []
    for i in range(n):
        s = shape[i]
        if s < 0.04:
            out.append(None)
        elif s < 0.62:
            out.append(f"{f[i]} {l1[i]}")
        elif s < 0.84:
            out.append(f"{f[i]} {l1[i]} {l2[i]}")
        elif s < 0.96:
            out.append(f"{f[i]} {f2[i]} {l1[i]}")
        elif s < 0.975:
            out.append(f"{f[i]} {l1[i]}".upper())
        elif s < 0.99:
            out.append(f"{f[i]} {l1[i]}".lower())
        else:
            out.append(f" {f[i]} {l1[i]} ")
    return out


def org_names(rng: np.random.Generator, n: int) -> list[str]:
    p = rng.integers(0, len(vocab.ORG_PREFIXES), n)
    s = rng.integers(0, len(vocab.ORG_STEMS), n)
    x = rng.integers(0, len(vocab.ORG_SUFFIXES), n)
    return [
        f"{vocab.ORG_PREFIXES[p[i]]} {vocab.ORG_STEMS[s[i]]} {vocab.ORG_SUFFIXES[x[i]]}".strip()
        for i in range(n)
    ]


def json_list(items: Sequence[str]) -> str:
    """The JSON text of a list of strings, UTF-8 (no \\u escapes), MySQL JSON style."""
    return json.dumps(list(items), ensure_ascii=False)


def json_lists_from_csr(indptr: Ints, indices: Ints, names: Sequence[str]) -> list[str]:
    """One JSON list per CSR row. Names hold no quote or backslash, so plain joining
    yields valid JSON (checked by the tests) at a fraction of json.dumps' cost."""
    quoted = [f'"{s}"' for s in names]
    idx = indices.tolist()
    ptr = indptr.tolist()
    return [
        "[" + ", ".join([quoted[j] for j in idx[ptr[i] : ptr[i + 1]]]) + "]"
        for i in range(len(ptr) - 1)
    ]


def random_json_lists(
    rng: np.random.Generator,
    n: int,
    names: Sequence[str],
    max_len: int,
    *,
    min_len: int = 0,
    weights: Sequence[float] | None = None,
    combos: int = 64,
) -> list[str]:
    """``n`` JSON lists drawn from a pool of ``combos`` random distinct-element lists."""
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / sum(weights)
    pool = []
    for _ in range(combos):
        k = int(rng.integers(min_len, max_len + 1))
        nz = len(names) if p is None else int(np.count_nonzero(p))
        k = min(k, nz)
        chosen = rng.choice(len(names), size=k, replace=False, p=p).tolist() if k else []
        pool.append(json_list([names[j] for j in chosen]))
    out: list[str] = np.asarray(pool, dtype=object)[rng.integers(0, combos, n)].tolist()
    return out


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def slugify(text: str) -> str:
    """ASCII slug: accents dropped, non-alphanumerics collapsed to '-'."""
    out = []
    for c in strip_accents(text).lower():
        out.append(c if c.isascii() and c.isalnum() else "-")
    return "-".join(part for part in "".join(out).split("-") if part)


def resume_description(
    rng: np.random.Generator, first: str, city: str, skills: Sequence[str], near_miss: bool
) -> str:
    a = skills[0] if skills else "Trabajo en Equipo"
    b = skills[1] if len(skills) > 1 else "Comunicación"
    parts = [
        vocab.RESUME_OPENINGS[rng.integers(len(vocab.RESUME_OPENINGS))],
        vocab.RESUME_BODIES[rng.integers(len(vocab.RESUME_BODIES))],
        vocab.RESUME_CLOSINGS[rng.integers(len(vocab.RESUME_CLOSINGS))],
    ]
    if near_miss:
        parts.insert(2, vocab.NEAR_MISS_SENTENCES[rng.integers(len(vocab.NEAR_MISS_SENTENCES))])
    years = int(rng.integers(1, 16))
    text = " ".join(p for p in parts if p)
    return text.format(first=first or "yo", city=city or "mi ciudad", years=years, a=a, b=b)


def challenge_name(rng: np.random.Generator, city: str) -> str:
    kind = vocab.CHALLENGE_KINDS[rng.integers(len(vocab.CHALLENGE_KINDS))]
    role = vocab.CHALLENGE_ROLES[rng.integers(len(vocab.CHALLENGE_ROLES))]
    if rng.random() < 0.35 and city:
        return f"{kind}: {role} en {city}"
    return f"{kind} {role} {2024 + int(rng.integers(0, 3))}"


def challenge_description(rng: np.random.Generator, org: str) -> str:
    k = int(rng.integers(2, 4))
    picks = rng.choice(len(vocab.CHALLENGE_SENTENCES), size=k, replace=False)
    return f"En {org} " + " ".join(vocab.CHALLENGE_SENTENCES[j] for j in picks)


def resume_url(resume_id: int, slug: str) -> str:
    return f"{MEDIA}/resumes/{resume_id}/{slug}.mp4"


def challenge_url(challenge_id: int, slug: str) -> str:
    return f"{MEDIA}/challenges/{challenge_id}/{slug}.mp4"


def language_lists(rng: np.random.Generator, n: int, combos: int = 48) -> list[str]:
    """JSON language lists, almost always starting with "Español"."""
    others = vocab.LANGUAGES[1:]
    p = np.asarray(vocab.LANGUAGE_WEIGHTS[1:]) / sum(vocab.LANGUAGE_WEIGHTS[1:])
    pool = []
    for _ in range(combos):
        k = int(rng.choice(3, p=[0.45, 0.4, 0.15]))
        extra = [others[j] for j in rng.choice(len(others), size=k, replace=False, p=p)]
        pool.append(json_list(["Español", *extra] if rng.random() < 0.95 else extra or ["Inglés"]))
    out: list[str] = np.asarray(pool, dtype=object)[rng.integers(0, combos, n)].tolist()
    return out
