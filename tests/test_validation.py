"""A model's check figures on real video (core.validation): rated in plain words, written one AU a
line, read back with one-line errors, and shown in a report only for the model they measured."""
import json

import pytest

from core.errors import InputError
from core.model.shipped import default_model_dir
from core.report import render_report
from core.results import read_result
from core.validation import AuCheck, load_validation, model_validation, validation_record, write_validation

from .test_report import Page
from .test_stats import small_csv


def test_ratings_follow_the_targets():
    assert AuCheck(20, 100, 0.80, 0.04, 0.0).rating == "good"
    assert AuCheck(20, 100, 0.80, 0.06, 0.0).rating == "fair"     # finds it, but too many false alarms for good
    assert AuCheck(20, 100, 0.49, 0.01, 0.0).rating == "weak"
    assert AuCheck(20, 100, 0.90, 0.30, 0.0).rating == "weak"
    assert AuCheck(4, 100, 1.00, 0.00, 0.0).rating == "too few examples"
    assert AuCheck(0, 0, None, None, 0.5).rating == "not checked"
    assert AuCheck(0, 50, None, 0.1, 0.0).rating == "too few examples"   # labelled, but never seen present
    assert AuCheck(30, 0, 0.9, None, 0.0).rating == "too few examples"   # never seen absent: false alarms unknown
    assert AuCheck(1, 9, 0.0, 0.0, 0.3).summary == ("too few examples (F1 0.00, 0% false alarms, 1 frame showing it); "
                                                     "read on 30% of resting faces")


def test_figures_written_and_read_back(tmp_path):
    held_out = {"frames": 30, "counts": {"AU12": [10, 20], "AU45": [2, 28]}, "per_au_f1": {"AU12": 0.9, "AU45": 0.5},
                "per_au_fp": {"AU12": 0.05, "AU45": 0.0},
                "at_rest": {"frames": 6, "per_au": {"AU12": 0.0, "AU17": 0.5, "AU45": 0.0}},
                "emotions": {"happy": [12, 11], "sad": [3, 3]}}
    write_validation(tmp_path / "validation.json", validation_record("m-1", 3, held_out))
    text = (tmp_path / "validation.json").read_text()
    assert len(text.splitlines()) == 5  # the header and one line per AU
    v = load_validation(tmp_path)
    assert (v.model, v.people, v.frames, v.rest_frames) == ("m-1", 3, 30, 6)
    assert v.check(12) == AuCheck(10, 20, 0.9, 0.05, 0.0) and v.check(12).rating == "good"
    assert v.check(17).rating == "not checked" and v.check(17).at_rest == 0.5
    assert v.check(45).rating == "too few examples" and v.check(9) == AuCheck(0, 0, None, None, None)
    assert v.emotions == {"happy": (12, 11), "sad": (3, 3)}
    assert load_validation(tmp_path / "nothing") is None



def test_the_figures_of_a_version_come_from_whichever_folder_measured_it(tmp_path):
    shipped = load_validation(default_model_dir())
    held_out = {"frames": 30, "counts": {"AU12": [10, 20]}, "per_au_f1": {"AU12": 0.9}, "per_au_fp": {"AU12": 0.05},
                "at_rest": {"frames": 6, "per_au": {"AU12": 0.0}}}
    write_validation(tmp_path / "validation.json", validation_record("mf2-finetuned-1", 3, held_out))
    assert model_validation(tmp_path).model == "mf2-finetuned-1"  # its own first
    assert model_validation(tmp_path, "mf2-finetuned-1").model == "mf2-finetuned-1"
    # readings made by the shipped version (a video analysed before fine-tuning) keep the shipped figures
    assert model_validation(tmp_path, shipped.model) == shipped
    assert model_validation(tmp_path, "mf2-something-else") is None

@pytest.mark.parametrize("text, why", [("{not json", "not a model's check figures"),
                                       ('{"model": "m"}', "KeyError"),
                                       (json.dumps({"model": "m", "people": 1, "frames": 1, "rest_frames": 0, "aus": {
                                           "AU12": {"present": 1, "absent": 1, "f1": 1.5, "false_alarms": 0,
                                                    "at_rest": None}}}), "not a share"),
                                       (json.dumps({"model": "m", "people": 1, "frames": 1, "rest_frames": 0, "aus": {},
                                                    "emotions": {"happy": [2, 3]}}), "more frames than were judged"),
                                       (json.dumps({"model": "m", "people": 1, "frames": 1, "rest_frames": 0, "aus": {},
                                                    "emotions": {"bored": [2, 1]}}), "unknown emotion")])
def test_bad_figures_are_one_line(tmp_path, text, why):
    (tmp_path / "validation.json").write_text(text)
    with pytest.raises(InputError, match=why) as e:
        load_validation(tmp_path)
    assert str(e.value).startswith(str(tmp_path / "validation.json")) and "\n" not in str(e.value)


def test_figures_are_shown_only_for_the_model_they_measured(tmp_path):
    shipped = model_validation(default_model_dir())
    result = read_result(small_csv(tmp_path))
    own = Page(render_report(result, model_version=shipped.model, validation=shipped))
    assert own.trust and "comes with no check of its own" not in own.words
    happy = shipped.emotions["happy"]
    assert f"the model's top emotion was that one (happy: {happy[1]} of {happy[0]} frames" in own.words
    assert "AU1, AU2, AU4, AU6, AU12, AU18, AU25, AU26, AU45 were judged by eye" in own.words
    no_aus = read_result(small_csv(tmp_path), keep=lambda c: not c.startswith("AU"))
    assert "How far each AU holds" not in render_report(no_aus, model_version=shipped.model, validation=shipped)
    tuned = Page(render_report(result, model_version="mf2-finetuned-1", validation=model_validation(tmp_path)))
    assert not tuned.trust and "(mf2-finetuned-1) comes with no check of its own on real video" in tuned.words
    assert "†" not in tuned.words  # no AU marked where no check applies
    assert "†" not in own.words  # nor where the AUs held: this file's AU12 and AU45 rate fair and good
    assert "this recording was read against" not in own.words  # the check's own baseline: auto
    path = small_csv(tmp_path)
    path.write_text(path.read_text().replace(",auto\n", ",none\n"))
    other = Page(render_report(read_result(path), model_version=shipped.model, validation=shipped))
    assert ("this recording was read against the population's neutral face (none), so its AU readings may hold "
            "differently") in other.words
    unknown = Page(render_report(result))
    assert not unknown.trust and "mf2 report --model DIR names its folder" in unknown.words
