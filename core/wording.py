"""The words descriptions are written with: per emotion, per Action Unit and per intensity.

The face space is aligned with language through these descriptions, so their variety decides what
the alignment learns. With a handful of fixed sentences it learns one point per class; with many
ways of saying the same thing (synonyms, what the face looks like, the situation, how strong an
action is) it learns what the words mean, and a user's own wording lands near the right faces.
Written from FACS (Ekman, Friesen & Hager 2002) and EMFACS prototypes. Evaluation prompts are kept
out of this file: tests/test_zero_shot.py checks that no prompt is a sentence written from it.
"""
from __future__ import annotations

EMOTION_ADJECTIVES = {
    "neutral": ("neutral", "expressionless", "relaxed", "composed", "impassive", "unmoved", "placid"),
    "happy": ("happy", "joyful", "cheerful", "pleased", "amused", "glad", "merry", "content"),
    "sad": ("sad", "unhappy", "sorrowful", "gloomy", "downcast", "miserable", "melancholy", "grieving"),
    "surprise": ("surprised", "astonished", "amazed", "startled", "shocked", "flabbergasted"),
    "fear": ("fearful", "afraid", "frightened", "scared", "anxious", "alarmed", "terrified", "nervous"),
    "disgust": ("disgusted", "repulsed", "revolted", "sickened", "nauseated", "appalled"),
    "angry": ("angry", "furious", "irritated", "annoyed", "hostile", "enraged", "cross", "indignant"),
    "contempt": ("contemptuous", "scornful", "disdainful", "sneering", "smug", "dismissive", "haughty"),
}

EMOTION_NOUNS = {
    "neutral": ("a neutral, relaxed state", "no particular emotion", "calm", "composure", "a resting expression",
                "emotional neutrality"),
    "happy": ("happiness", "joy", "amusement", "pleasure", "glee", "enjoyment"),
    "sad": ("sadness", "sorrow", "grief", "unhappiness", "dejection", "despair"),
    "surprise": ("surprise", "astonishment", "amazement", "shock", "disbelief"),
    "fear": ("fear", "anxiety", "alarm", "terror", "dread", "apprehension"),
    "disgust": ("disgust", "revulsion", "distaste", "aversion", "loathing"),
    "angry": ("anger", "rage", "irritation", "annoyance", "hostility", "fury"),
    "contempt": ("contempt", "scorn", "disdain", "condescension", "derision"),
}

# What the emotion's prototype looks like (EMFACS), for faces whose AUs are not labelled.
EMOTION_LOOKS = {
    "neutral": ("brows, eyes and mouth at rest", "relaxed features and closed lips", "open eyes and a loose, relaxed mouth",
                "no tension anywhere in the face"),
    "happy": ("raised cheeks and lip corners drawn up", "a smile that reaches the eyes", "a broad smile",
              "a laughing mouth and creased eye corners"),
    "sad": ("inner brows lifted and mouth corners drawn down", "drooping lids and a turned-down mouth",
            "a trembling chin and slanted brows", "eyes cast down, the mouth sagging"),
    "surprise": ("brows lifted high, eyes wide and the jaw dropped", "raised eyebrows and an open mouth",
                 "a rounded, open mouth under arched brows", "wide eyes and a slack jaw"),
    "fear": ("brows lifted and pulled together, eyes wide, lips stretched back", "tense, widened eyes and a stretched mouth",
             "raised, drawn-together brows over staring eyes", "lips pulled back tightly with the eyes wide"),
    "disgust": ("a crinkled nose and a lifted upper lip", "the upper lip curled and the nose wrinkled",
                "narrowed eyes over a wrinkled nose", "the mouth twisted as if tasting something bad"),
    "angry": ("lowered, drawn-together brows, staring eyes and pressed lips", "a furrowed brow and tightened lips",
              "a hard stare under lowered brows", "clenched jaw and narrowed eyes"),
    "contempt": ("one lip corner tightened and lifted", "a lopsided, one-sided smile",
                 "the mouth pulled up on a single side", "an asymmetric tightening at one mouth corner"),
}

EMOTION_SITUATIONS = {
    "neutral": ("as if listening quietly", "as if waiting for something", "as in a passport photo"),
    "happy": ("as if hearing good news", "as if laughing at a joke", "as if greeting a friend"),
    "sad": ("as if after a loss", "as if about to cry", "as if hearing bad news"),
    "surprise": ("as if something unexpected just happened", "as if caught off guard", "as if seeing a sudden event"),
    "fear": ("as if facing a threat", "as if in danger", "as if expecting to be hurt"),
    "disgust": ("as if smelling something rotten", "as if seeing something vile", "as if tasting spoiled food"),
    "angry": ("as if provoked", "as if confronting someone", "as if insulted"),
    "contempt": ("as if looking down on someone", "as if unimpressed by someone", "as if mocking someone"),
}

# Plain wordings of each Action Unit's appearance, beside the FACS name and description.
AU_PHRASES = {
    1: ("inner brows lifted", "the inner corners of the eyebrows drawn upward", "brows slanted up toward the middle",
        "horizontal lines across the centre of the forehead", "a worried, oblique brow shape"),
    2: ("outer brows lifted", "the outer parts of the eyebrows pulled upward", "arched brows",
        "the lateral brows raised, lines at the sides of the forehead"),
    4: ("lowered brows", "brows drawn down and together", "a furrowed brow", "creases between the eyebrows",
        "a knitted brow"),
    5: ("upper eyelids lifted", "widened eyes", "eyes opened wide", "a wide-eyed look", "the upper lids pulled high"),
    6: ("raised cheeks", "cheeks lifted toward the eyes", "crow's-feet lines at the eye corners",
        "the skin under the eyes pushed up", "eyes narrowed from below by the cheeks"),
    7: ("tightened eyelids", "narrowed eyes", "lower lids raised and tensed", "a squint"),
    9: ("a wrinkled nose", "the nose crinkled", "lines along the sides of the nose", "nostrils drawn up"),
    10: ("a raised upper lip", "the upper lip lifted", "upper teeth showing", "a curled upper lip"),
    11: ("a deepened nasolabial fold", "the fold from nose to mouth deepened", "the groove beside the nose lifted"),
    12: ("lip corners pulled up", "a smile", "mouth corners raised obliquely", "a smiling mouth",
         "the lips drawn up at the sides"),
    14: ("dimpled lip corners", "the mouth corners tucked in", "dimples at the corners of the mouth",
         "tight, pulled-in lip corners"),
    15: ("lip corners pulled down", "mouth corners drooping", "the lip corners lowered",
         "the mouth turned downward at the edges"),
    16: ("the lower lip pulled down", "a depressed lower lip", "the lower teeth showing"),
    17: ("a raised chin", "the chin pushed up", "a wrinkled, bumpy chin", "the lower lip pushed up by the chin",
         "a pouting chin"),
    18: ("puckered lips", "lips pushed forward", "pursed lips", "lips rounded forward"),
    20: ("lips stretched sideways", "a horizontally stretched mouth", "mouth corners pulled out to the sides"),
    21: ("a tightened neck", "cords of the neck standing out", "tension in the neck and lower jaw"),
    22: ("funnelled lips", "lips flared outward", "lips shaped into a funnel"),
    23: ("tightened lips", "thin lips", "lips narrowed", "the red of the lips made thinner"),
    24: ("lips pressed together", "pressed lips", "a mouth clamped shut"),
    25: ("parted lips", "lips slightly apart", "an open mouth", "a small gap between the lips"),
    26: ("a dropped jaw", "the jaw lowered", "a mouth hanging open", "a slack jaw"),
    27: ("a mouth stretched wide open", "the jaw pulled far down", "a mouth opened to its limit"),
    43: ("eyes closed", "lids shut", "closed eyes"),
    45: ("a blink", "eyelids briefly closed"),
}

# Intensity words for an AU's strength 0..1, weakest first (FACS A to E).
INTENSITY_WORDS = (
    (0.2, ("barely", "faintly", "hardly")),
    (0.4, ("slightly", "a little", "mildly")),
    (0.6, ("moderately", "clearly", "noticeably")),
    (0.8, ("markedly", "distinctly", "strongly")),
    (1.01, ("strongly", "intensely", "very strongly")),
)
