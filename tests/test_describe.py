import random

from core.describe import au_sentence, describe, strength_word
from core.taxonomy import AU_BY_NUMBER, EMOTIONS
from core.wording import AU_PHRASES, EMOTION_ADJECTIVES, EMOTION_NOUNS, INTENSITY_WORDS


STRONG_WORDS = {w for top, words in INTENSITY_WORDS if top > 0.6 for w in words}


def test_every_level_is_written():
    d = describe({6: 1.0, 12: 0.9, 25: 0.3}, "happiness", seed=3)
    assert set(d.au_texts) == {6, 12, 25}
    happy_words = set(EMOTION_NOUNS["happy"]) | set(EMOTION_ADJECTIVES["happy"])
    assert any(w in d.emotion_text.lower() for w in happy_words)
    text = d.text
    assert text.startswith(d.global_text) and text.endswith(d.emotion_text)
    positions = [text.index(d.au_texts[n]) for n in (6, 12, 25)]
    assert positions == sorted(positions)  # FACS order


def test_au_sentences_name_their_au_and_say_how_strong_it_is():
    for n in AU_BY_NUMBER:
        for seed in range(30):
            sentence = au_sentence(n, 0.3, random.Random(seed))
            au = AU_BY_NUMBER[n]
            lower = sentence.lower()
            # the AU is recognisable: its code, its FACS name, its description or one of its plain wordings
            assert (au.code in sentence or au.name.lower() in lower or au.description.lower()[:-1] in lower
                    or any(p.lower() in lower for p in AU_PHRASES[n])), sentence
            # a slight action (0.3) is never called strong
            assert not any(w in lower.replace(",", " ").split() or w in lower for w in STRONG_WORDS), sentence
    assert strength_word(0.3) == "slightly" and strength_word(1.0) == "strongly" and strength_word(0.1) == "barely"


def test_same_seed_same_words_other_seeds_paraphrase():
    labels = ({1: 1.0, 2: 1.0, 5: 1.0, 26: 1.0}, "surprise")
    assert describe(*labels, seed=7).text == describe(*labels, seed=7).text
    assert len({describe(*labels, seed=s).text for s in range(50)}) == 50
    for emotion in EMOTIONS:  # emotion-only data (FER) gets many wordings, not a few class sentences
        assert len({describe(None, emotion, seed=s).text for s in range(300)}) >= 200, emotion


def test_rest_face_and_emotion_only():
    d = describe({}, "neutral", seed=1)
    assert d.au_texts == {} and d.emotion_text
    assert any(w in d.global_text for w in ("rest", "calm", "still"))
    assert describe({}, None).emotion_text == ""


def test_every_au_can_be_described():
    d = describe({n: 0.8 for n in AU_BY_NUMBER}, "angry")
    assert set(d.au_texts) == set(AU_BY_NUMBER)
    assert all(t.endswith((".", ")")) for t in d.au_texts.values())


def test_unknown_aus_are_not_described_as_a_face_at_rest():
    for seed in range(20):
        unknown = describe(None, "angry", seed=seed)
        assert unknown.au_texts == {} and "at rest" not in unknown.text and "no clear facial" not in unknown.text
        angry_words = set(EMOTION_NOUNS["angry"]) | set(EMOTION_ADJECTIVES["angry"])
        assert any(w in unknown.text.lower() for w in angry_words), unknown.text
    at_rest = [describe({}, "angry", seed=s).global_text for s in range(20)]
    assert all(any(w in t for w in ("rest", "calm", "still")) for t in at_rest)


def test_captions_people_read_are_plain_and_name_the_emotion():
    """The studio's captions (vary=False) read the same whatever the seed and use the label's own word."""
    texts = {describe({6: 0.9, 12: 0.95}, "happy", seed=s, vary=False).text for s in range(10)}
    assert len(texts) == 1
    d = describe({6: 0.9, 12: 0.95}, "happy", vary=False)
    assert d.emotion_text == "The face expresses happiness."
    assert "Cheek Raiser (AU6)" in d.au_texts[6] and "strongly" in d.au_texts[6]
    assert describe(None, "surprise", vary=False).text == "A face showing surprise. The face expresses surprise."
