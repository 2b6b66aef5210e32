"""Action Units, emotions and dataset label synonyms: the one table every other module reads.

The model's outputs, the generated descriptions, the studio's overlays and the CSV columns all
index into these tuples, so adding an AU here is the only change needed to carry it end to end
(weights excepted).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionUnit:
    number: int
    name: str
    muscle: str
    region: str  # a key of core.faces.regions.REGIONS
    description: str

    @property
    def code(self) -> str:
        """FACS code as people write it: ``AU12``."""
        return f"AU{self.number}"

    @property
    def column(self) -> str:
        """Two-digit stem used by OpenFace columns: ``AU01`` (``AU01_r``, ``AU01_c``)."""
        return f"AU{self.number:02d}"


ACTION_UNITS: tuple[ActionUnit, ...] = (
    ActionUnit(1, "Inner Brow Raiser", "frontalis, pars medialis", "inner_brows",
               "The inner ends of the eyebrows are pulled up, wrinkling the centre of the forehead."),
    ActionUnit(2, "Outer Brow Raiser", "frontalis, pars lateralis", "outer_brows",
               "The outer ends of the eyebrows are pulled up, arching the brows."),
    ActionUnit(4, "Brow Lowerer", "corrugator supercilii, depressor supercilii, procerus", "glabella",
               "The eyebrows are pulled down and together, creasing the skin between them."),
    ActionUnit(5, "Upper Lid Raiser", "levator palpebrae superioris", "upper_eyelids",
               "The upper eyelids are raised, widening the eyes and showing more of the eyeball."),
    ActionUnit(6, "Cheek Raiser", "orbicularis oculi, pars orbitalis", "cheeks",
               "The cheeks are lifted and the skin around the eyes bunches into crow's feet."),
    ActionUnit(7, "Lid Tightener", "orbicularis oculi, pars palpebralis", "lower_eyelids",
               "The eyelids tighten and the lower lids rise, narrowing the eye opening."),
    ActionUnit(9, "Nose Wrinkler", "levator labii superioris alaeque nasi", "nose",
               "The skin along the sides of the nose wrinkles upward."),
    ActionUnit(10, "Upper Lip Raiser", "levator labii superioris", "upper_lip",
               "The upper lip is raised, deepening the fold beside the nose."),
    ActionUnit(11, "Nasolabial Deepener", "zygomaticus minor", "nasolabial_folds",
               "The middle of the nasolabial fold is pulled up and deepened."),
    ActionUnit(12, "Lip Corner Puller", "zygomaticus major", "lip_corners",
               "The corners of the lips are pulled back and up, as in a smile."),
    ActionUnit(14, "Dimpler", "buccinator", "lip_corners",
               "The lip corners are tightened inward, forming dimples beside them."),
    ActionUnit(15, "Lip Corner Depressor", "depressor anguli oris", "lip_corners",
               "The corners of the lips are pulled down."),
    ActionUnit(16, "Lower Lip Depressor", "depressor labii inferioris", "lower_lip",
               "The lower lip is pulled down, exposing the lower teeth."),
    ActionUnit(17, "Chin Raiser", "mentalis", "chin",
               "The chin boss is pushed up, wrinkling the chin and pushing the lower lip up."),
    ActionUnit(18, "Lip Pucker", "incisivii labii superioris and inferioris", "lips",
               "The lips are pushed forward and gathered, as in a kiss."),
    ActionUnit(20, "Lip Stretcher", "risorius with platysma", "lip_corners",
               "The lip corners are pulled sideways, stretching the mouth horizontally."),
    ActionUnit(21, "Neck Tightener", "platysma", "jaw",
               "The skin of the lower jaw and neck is tightened."),
    ActionUnit(22, "Lip Funneler", "orbicularis oris", "lips",
               "The lips are funnelled outward into a rounded shape."),
    ActionUnit(23, "Lip Tightener", "orbicularis oris", "lips",
               "The lips are tightened and narrowed, making the red of the lips thinner."),
    ActionUnit(24, "Lip Pressor", "orbicularis oris", "lips",
               "The lips are pressed firmly together."),
    ActionUnit(25, "Lips Part", "depressor labii inferioris, relaxed mentalis or orbicularis oris", "lips",
               "The lips come apart, parting the mouth slightly."),
    ActionUnit(26, "Jaw Drop", "relaxed masseter, temporalis and internal pterygoid", "jaw",
               "The jaw drops so that the mouth hangs open."),
    ActionUnit(27, "Mouth Stretch", "pterygoids and digastric", "jaw",
               "The mouth is stretched wide open by pulling the jaw far down."),
    ActionUnit(43, "Eyes Closed", "relaxed levator palpebrae superioris", "upper_eyelids",
               "The eyelids are closed and stay closed, longer than a blink."),
    ActionUnit(45, "Blink", "relaxed levator palpebrae superioris, orbicularis oculi", "upper_eyelids",
               "The eyelids close briefly and reopen."),
)

AU_BY_NUMBER: dict[int, ActionUnit] = {au.number: au for au in ACTION_UNITS}

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt")

# Dataset spellings -> our emotion names. Keys are lower case.
EMOTION_SYNONYMS: dict[str, str] = {
    "anger": "angry", "angry": "angry", "mad": "angry",
    "contempt": "contempt", "contemptuous": "contempt",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy",
    "neutral": "neutral", "calm": "neutral",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
}


def canonical_emotion(label: str) -> str:
    """Map a dataset's emotion label to ours; raise ValueError naming the label otherwise."""
    key = label.strip().lower()
    try:
        return EMOTION_SYNONYMS[key]
    except KeyError:
        raise ValueError(f"unknown emotion label {label!r} (known: {', '.join(EMOTIONS)})") from None


def parse_au(code: str | int) -> ActionUnit:
    """Accept ``12``, ``"12"``, ``"AU12"``, ``"au_12"`` or ``"AU12_r"``; raise ValueError otherwise."""
    text = str(code).strip().upper().replace("_", "")
    if text.startswith("AU"):
        text = text[2:]
    if text.endswith(("R", "C")) and len(text) > 1 and text[:-1].isdigit():
        text = text[:-1]
    if not text.isdigit() or int(text) not in AU_BY_NUMBER:
        raise ValueError(f"unknown Action Unit {code!r}")
    return AU_BY_NUMBER[int(text)]
