from core.describe import describe
from core.taxonomy import AU_BY_NUMBER


def test_every_level_is_written():
    d = describe({6: 1.0, 12: 0.9, 25: 0.3}, "happiness", seed=3)
    assert set(d.au_texts) == {6, 12, 25}
    assert "happ" in d.emotion_text.lower() or "happ" in d.global_text.lower()
    assert "AU12" in d.au_texts[12] and "lip corners" in d.au_texts[12]
    assert "slight" in d.au_texts[25].lower() and "strong" in d.au_texts[6].lower()
    text = d.text
    assert text.startswith(d.global_text) and text.endswith(d.emotion_text)
    assert text.index("AU6") < text.index("AU12") < text.index("AU25")


def test_same_seed_same_words_other_seeds_paraphrase():
    labels = ({1: 1.0, 2: 1.0, 5: 1.0, 26: 1.0}, "surprise")
    assert describe(*labels, seed=7).text == describe(*labels, seed=7).text
    assert len({describe(*labels, seed=s).text for s in range(12)}) >= 4


def test_rest_face_and_emotion_only():
    d = describe({}, "neutral", seed=1)
    assert d.au_texts == {} and "neutral" in d.emotion_text
    assert "rest" in d.global_text or "calm" in d.global_text
    assert describe({}, None).emotion_text == ""


def test_every_au_can_be_described():
    d = describe({n: 0.8 for n in AU_BY_NUMBER}, "angry")
    assert set(d.au_texts) == set(AU_BY_NUMBER)
    assert all(t.endswith(".") for t in d.au_texts.values())


def test_unknown_aus_are_not_described_as_a_face_at_rest():
    unknown = describe(None, "angry", seed=0)
    assert unknown.au_texts == {} and "rest" not in unknown.text and "calm" not in unknown.text
    assert "ang" in unknown.global_text.lower()
    assert "rest" in describe({}, "angry", seed=0).global_text or "calm" in describe({}, "angry", seed=0).global_text
