"""Multilevel MFA-style descriptions of a face: a global sentence, one per active AU, one for the emotion.

Written from dataset labels (to train the language alignment) or from model predictions (the
studio's editable captions). Wording varies between calls (`core.wording`: synonyms, plain
descriptions of each AU, intensity words, the emotion's typical look and situation) so that the
alignment learns what words mean rather than a few fixed sentences; the same seed always gives
the same text.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .taxonomy import AU_BY_NUMBER, canonical_emotion
from .wording import (AU_PHRASES, EMOTION_ADJECTIVES, EMOTION_LOOKS, EMOTION_NOUNS, EMOTION_SITUATIONS,
                      INTENSITY_WORDS)

_AU_TEMPLATES = (
    "{name} ({code}) in the {region}, {intensity}: {description_lc}",
    "{code}, {name_lc}, is {intensity} active around the {region}.",
    "In the {region}, {description_lc_trim} ({intensity}, {code} {name_lc}).",
    "{Phrase}, {intensity} ({code}).",
    "{code}: {phrase}.",
    "{Phrase}: the {name_lc} ({code}) is {intensity} active.",
    "Around the {region}: {phrase}.",
    "{Phrase}, {intensity}.",
    "{code}: {description}",
)
_EMOTION_TEMPLATES = (
    "The face expresses {noun}.",
    "Overall the expression reads as {noun}.",
    "The emotion shown is {noun}.",
    "This person looks {adj}.",
    "The person appears {adj}.",
    "The expression suggests {noun}.",
    "Emotion: {noun}.",
    "They seem {adj}, {situation}.",
)
_GLOBAL_TEMPLATES = (
    "A face with {actions}, showing {noun}.",
    "{a_adj} face: {actions}.",
    "This face shows {actions}; the expression suggests {noun}.",
    "{Actions}: {a_adj_lc} face.",
    "Someone {adj}, with {actions}.",
    "A person with {actions}.",
)
_EMOTION_ONLY_TEMPLATES = (
    "A face showing {noun}.",
    "{a_adj} face.",
    "A face whose expression conveys {noun}.",
    "A photo of {a_adj_lc} person.",
    "{a_adj} person: {look}.",
    "{Look}; the person looks {adj}.",
    "Someone {adj}, {situation}.",
    "A close-up of {a_adj_lc} face with {look}.",
)
_REST_TEMPLATES = (
    "A face at rest, with no clear facial muscle movement.",
    "A calm face without visible muscle action.",
    "No facial action is visible; the features are at rest.",
    "A still face: {look}.",
)


def strength_word(value: float, rng: random.Random | None = None) -> str:
    """A word for an AU's strength in 0..1 (1 for a plain occurrence label); ``rng`` picks among
    the level's synonyms (the first one without it)."""
    value = min(max(float(value), 0.0), 1.0)  # intensity labels may come on FACS's 0..5 scale
    words = next(words for top, words in INTENSITY_WORDS if value < top)
    return (rng or _First).choice(words)


def region_words(region: str) -> str:
    return region.replace("_", " ")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


class _First:
    """Stands in for a random generator where captions must read the same every time: the first
    (plainest) wording of each list."""

    @staticmethod
    def choice(seq):
        return seq[0]


def au_sentence(number: int, value: float, rng: random.Random | _First) -> str:
    """One sentence about one active AU, in one of many wordings (the plainest with ``_First``)."""
    au = AU_BY_NUMBER[number]
    description_lc = au.description[0].lower() + au.description[1:]
    intensity = strength_word(value, rng)
    phrase = rng.choice(AU_PHRASES[number])
    return rng.choice(_AU_TEMPLATES).format(
        code=au.code, intensity=intensity, name=au.name, name_lc=au.name.lower(),
        region=region_words(au.region), description=au.description, description_lc=description_lc,
        description_lc_trim=description_lc.rstrip("."), phrase=phrase, Phrase=_cap(phrase))


@dataclass
class Description:
    global_text: str
    au_texts: dict[int, str] = field(default_factory=dict)
    emotion_text: str = ""

    @property
    def text(self) -> str:
        """All levels in one paragraph: global, AUs (in FACS order), emotion."""
        return " ".join([self.global_text, *(self.au_texts[n] for n in sorted(self.au_texts)), self.emotion_text]).strip()


def describe(aus: dict[int, float] | None, emotion: str | None, seed: int = 0, vary: bool = True) -> Description:
    """Describe a face from its AUs (number -> strength 0..1; ``None`` when they are unknown, as in
    emotion-only datasets, which is not the same as a face at rest) and its emotion (any synonym).
    ``vary``: wording drawn at random (by ``seed``) from every synonym and template, as training
    wants; False: the plainest wording, the same every time, naming the emotion as the studio's
    labels do (captions people read and correct)."""
    rng = random.Random(seed) if vary else _First()
    active = {n: v for n, v in sorted((aus or {}).items()) if v > 0 and n in AU_BY_NUMBER}
    emotion = canonical_emotion(emotion) if emotion else None
    au_texts = {n: au_sentence(n, value, rng) for n, value in active.items()}
    words = dict(noun=rng.choice(EMOTION_NOUNS[emotion]) if emotion else "no particular emotion",
                 adj=rng.choice(EMOTION_ADJECTIVES[emotion or "neutral"]),
                 look=rng.choice(EMOTION_LOOKS[emotion or "neutral"]),
                 situation=rng.choice(EMOTION_SITUATIONS[emotion or "neutral"]))
    words.update(a_adj=_cap(_with_article(words["adj"])), a_adj_lc=_with_article(words["adj"]), Look=_cap(words["look"]))
    emotion_text = rng.choice(_EMOTION_TEMPLATES).format(**words) if emotion else ""
    if active:
        strongest = sorted(active, key=lambda k: -active[k])[:3]
        names = [rng.choice((AU_BY_NUMBER[n].name.lower(), rng.choice(AU_PHRASES[n]))) for n in strongest]
        actions = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        if emotion:
            global_text = rng.choice(_GLOBAL_TEMPLATES).format(actions=actions, Actions=_cap(actions), **words)
        else:
            global_text = rng.choice(_GLOBAL_TEMPLATES[-1:]).format(actions=actions)
    elif aus is None and emotion:
        global_text = rng.choice(_EMOTION_ONLY_TEMPLATES).format(**words)
    else:
        global_text = rng.choice(_REST_TEMPLATES).format(look=rng.choice(EMOTION_LOOKS["neutral"]))
    return Description(global_text, au_texts, emotion_text)
