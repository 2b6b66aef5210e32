"""Multilevel MFA-style descriptions of a face: a global sentence, one per active AU, one for the emotion.

Written from dataset labels (to train the language alignment) or from model predictions (the
studio's editable captions). Wording varies between calls so the text encoder sees paraphrases,
but the same seed always gives the same text.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .taxonomy import AU_BY_NUMBER, canonical_emotion

EMOTION_NOUNS = {"neutral": "a neutral, relaxed state", "happy": "happiness", "sad": "sadness", "surprise": "surprise",
                 "fear": "fear", "disgust": "disgust", "angry": "anger", "contempt": "contempt"}

_AU_TEMPLATES = (
    "{Adjective} {name_lc} (AU{n}) in the {region}: {description_lc}",
    "AU{n}, {name_lc}, is {strength} active around the {region}.",
    "In the {region}, {description_lc_trim} ({strength}, AU{n} {name_lc}).",
)
_EMOTION_TEMPLATES = (
    "The face expresses {noun}.",
    "Overall the expression reads as {noun}.",
    "The emotion shown is {noun}.",
)
_GLOBAL_TEMPLATES = (
    "A face with {actions}, showing {noun}.",
    "A {emotion_adj}face: {actions}.",
    "This face shows {actions}; the expression suggests {noun}.",
)
_EMOTION_ONLY_TEMPLATES = (
    "A face showing {noun}.",
    "A {emotion_adj}face.",
    "A face whose expression conveys {noun}.",
)
_REST_TEMPLATES = (
    "A face at rest, with no clear facial muscle movement.",
    "A calm face without visible muscle action.",
)


def strength_word(value: float) -> str:
    """Words for an AU's strength in 0..1 (1 for a plain occurrence label)."""
    return "slightly" if value < 0.4 else "moderately" if value < 0.7 else "strongly"


def region_words(region: str) -> str:
    return region.replace("_", " ")


@dataclass
class Description:
    global_text: str
    au_texts: dict[int, str] = field(default_factory=dict)
    emotion_text: str = ""

    @property
    def text(self) -> str:
        """All levels in one paragraph: global, AUs (in FACS order), emotion."""
        return " ".join([self.global_text, *(self.au_texts[n] for n in sorted(self.au_texts)), self.emotion_text]).strip()


_ADJECTIVES = {"neutral": "neutral ", "happy": "happy ", "sad": "sad ", "surprise": "surprised ", "fear": "fearful ",
               "disgust": "disgusted ", "angry": "angry ", "contempt": "contemptuous "}


def describe(aus: dict[int, float] | None, emotion: str | None, seed: int = 0) -> Description:
    """Describe a face from its AUs (number -> strength 0..1; ``None`` when they are unknown, as in
    emotion-only datasets, which is not the same as a face at rest) and its emotion (any synonym)."""
    rng = random.Random(seed)
    active = {n: v for n, v in sorted((aus or {}).items()) if v > 0 and n in AU_BY_NUMBER}
    emotion = canonical_emotion(emotion) if emotion else None
    au_texts = {}
    for n, value in active.items():
        au = AU_BY_NUMBER[n]
        strength = strength_word(value)
        description_lc = au.description[0].lower() + au.description[1:]
        au_texts[n] = rng.choice(_AU_TEMPLATES).format(
            n=n, Adjective=strength.removesuffix("ly").capitalize(), strength=strength, name_lc=au.name.lower(),
            region=region_words(au.region), description_lc=description_lc, description_lc_trim=description_lc.rstrip("."))
    noun = EMOTION_NOUNS[emotion] if emotion else "no particular emotion"
    emotion_text = rng.choice(_EMOTION_TEMPLATES).format(noun=noun) if emotion else ""
    adjective = _ADJECTIVES[emotion] if emotion else ""
    if active:
        names = [AU_BY_NUMBER[n].name.lower() for n in sorted(active, key=lambda k: -active[k])[:3]]
        actions = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        global_text = rng.choice(_GLOBAL_TEMPLATES).format(actions=actions, noun=noun,
                                                           emotion_adj="" if emotion == "neutral" else adjective)
    elif aus is None and emotion:
        global_text = rng.choice(_EMOTION_ONLY_TEMPLATES).format(noun=noun, emotion_adj=adjective)
    else:
        global_text = rng.choice(_REST_TEMPLATES)
    return Description(global_text, au_texts, emotion_text)
