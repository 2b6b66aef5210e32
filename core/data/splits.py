"""Subject-disjoint folds: no person's images on both sides of a split (CK+ has many per subject)."""
from __future__ import annotations

import random

from .sources import Sample


def subject_folds(samples: list[Sample], k: int, seed: int = 0) -> list[list[int]]:
    """``k`` lists of sample indices; every subject's samples fall in exactly one fold. Subjects are
    shuffled by ``seed`` and dealt largest first into the currently smallest fold, to even sizes."""
    for s in samples:
        if s.subject is None:
            raise ValueError(f"{s.source}: no subject: cannot make subject-disjoint folds")
    return group_folds([s.subject for s in samples], k, seed)


def group_folds(groups, k: int, seed: int = 0) -> list[list[int]]:
    """As `subject_folds`, for any sequence of group names (a person, a video)."""
    by_subject: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_subject.setdefault(str(g), []).append(i)
    subjects = sorted(by_subject)
    random.Random(seed).shuffle(subjects)
    subjects.sort(key=lambda subj: -len(by_subject[subj]))
    folds: list[list[int]] = [[] for _ in range(k)]
    for subj in subjects:
        min(folds, key=len).extend(by_subject[subj])
    return folds
