"""The shipped MF² weights on real faces: loading, sensible predictions, speed-relevant shape."""
import cv2
import numpy as np
import pytest

from core.cli import default_model_dir
from core.faces import FaceTracker
from core.faces.geometry import N_FEATURES
from core.model.scorer import POPULATION_REST, FaceScorer, face_values

from .conftest import SHARED_DATA, needs_shared


@pytest.fixture(scope="module")
def scorer():
    return FaceScorer(default_model_dir())


@pytest.fixture(scope="module")
def tracker():
    with FaceTracker(static=True) as t:
        yield t


def scores_of(rgb, tracker, scorer):
    faces = tracker.process(rgb)
    assert len(faces) == 1
    return scorer.score(rgb, faces)[0]


def test_shipped_model_is_small_safetensors_with_a_card():
    folder = default_model_dir()
    assert (folder / "model.safetensors").stat().st_size < 30 * 2**20
    card = (folder / "MODEL_CARD.md").read_text()
    assert "non-commercial" in card.lower() and "mf2 pretrain" in card and "mf2 finetune" in card


def test_smiling_astronaut_is_happy_with_lip_corners_pulled(astronaut, tracker, scorer):
    s = scores_of(astronaut, tracker, scorer)
    assert max(s.emotion, key=s.emotion.get) == "happy"
    assert s.au[12] > 0.5 and s.au[12] > s.au[4] and s.au[12] > s.au[15]


@needs_shared
@pytest.mark.parametrize("name, emotion", [("0-f15-hao-ph.jpg", "happy"), ("0-f1-su-ph.jpg", "surprise")])
def test_posed_photos(name, emotion, tracker, scorer):
    rgb = cv2.cvtColor(cv2.imread(str(SHARED_DATA / "images" / name)), cv2.COLOR_BGR2RGB)
    s = scores_of(rgb, tracker, scorer)
    assert max(s.emotion, key=s.emotion.get) == emotion
    if emotion == "surprise":
        assert s.au[2] > 0.5 and s.au[26] + s.au[27] > 0.5  # brows up, mouth open
    assert np.isclose(sum(s.emotion.values()), 1.0, atol=1e-4)


def test_au_regions_read_their_own_skin(astronaut, tracker, scorer):
    """The local branch is trained: greying the brows moves the brow AUs' readings far more than
    the mouth AUs', and greying the mouth the reverse."""
    import torch

    from core.model.transform import CANONICAL_CENTERS, PATCH_REGION, face_input, to_input
    from core.faces.regions import REGIONS

    model = scorer.model
    face = tracker.process(astronaut)[0]
    crop, centers = face_input(astronaut, face.landmarks, model.cfg.input_size)
    assert centers.shape == CANONICAL_CENTERS.shape

    def logits(image):
        with torch.no_grad():
            return model(to_input(image[None], "cpu"), torch.as_tensor(centers[None]))["au_logits"][0].numpy()

    def greyed(regions):
        out = crop.copy()
        for p in np.flatnonzero(np.isin(PATCH_REGION, [list(REGIONS).index(r) for r in regions])):
            x, y = (centers[p] * crop.shape[0]).astype(int)
            out[max(0, y - 5):y + 6, max(0, x - 5):x + 6] = int(crop.mean())
        return out

    base = logits(crop)
    brows = np.abs(logits(greyed(["inner_brows", "outer_brows"])) - base)
    mouth = np.abs(logits(greyed(["lips", "lower_lip", "jaw"])) - base)
    i = {n: model.cfg.aus.index(n) for n in (1, 2, 25, 26)}
    assert brows[i[1]] + brows[i[2]] > 3 * (brows[i[25]] + brows[i[26]])
    assert mouth[i[25]] + mouth[i[26]] > 3 * (mouth[i[1]] + mouth[i[2]])


def test_thresholds_and_geometry_come_with_the_model(astronaut, tracker):
    """Per-AU thresholds live in the config and decide present/absent; the geometry weights are
    trained (non-zero) and change the readings when the face's geometry differs from its rest."""
    folder = default_model_dir()
    import json

    cfg = json.loads((folder / "config.json").read_text())
    assert len(cfg["au_thresholds"]) == len(cfg["aus"]) and len(set(cfg["au_thresholds"])) > 3
    assert cfg["geometry_dim"] == len(cfg["geometry_scale"])
    none = FaceScorer(folder, baseline="none")
    assert np.abs(none.model.au_geometry.detach().numpy()).max() > 0.1
    face = tracker.process(astronaut)[0]
    raw = none.read_faces(astronaut, [face])[0]
    au, _ = none.readings(raw, face_values(face.landmarks), POPULATION_REST, 0, 0.0, known=False)
    for j, n in enumerate(none.model_aus):
        t = cfg["au_thresholds"][cfg["aus"].index(n)]
        geometry = none._geometry[j] @ (face_values(face.landmarks) - POPULATION_REST)[:N_FEATURES]
        assert (au[n] >= 0.5) == (1 / (1 + np.exp(-(raw[j] + geometry))) >= t)


@needs_shared
def test_region_embeddings_carry_the_au_information_on_held_out_video():
    """On the REPORT clips' hand-labelled frames (never trained on), zeroing the region embeddings
    costs AU F1: the readings come from the trained local branch, not from the bias or geometry."""
    from core.baseline import BaselineMode
    from core.data.video_frames import video_faces
    from core.evaluate import au_scores, load_frame_labels
    from core.training.au_local import AuData, backbone_maps, predict_au
    from core.training.checkpoint import load_model

    model = load_model(default_model_dir())
    truth = load_frame_labels(SHARED_DATA / "video_au" / "labels.csv")
    parts = []
    for clip in ("liveportrait_d0.mp4", "liveportrait_d12.mp4"):
        faces = video_faces(SHARED_DATA / "videos" / clip, {f for v, f in truth if v == clip}, model.cfg.input_size,
                            BaselineMode("auto"))
        labels = np.full((len(faces.frames), len(model.cfg.aus)), np.nan)
        for i, f in enumerate(faces.frames):
            for n, v in truth[(clip, f)].items():
                if n in model.cfg.trained_aus:
                    labels[i, model.cfg.aus.index(n)] = v
        parts.append(AuData(backbone_maps(model, faces.images), faces.centers, faces.deviation, labels,
                            np.array([clip] * len(labels))))
    data = AuData.join(parts)
    thresholds = np.array(model.cfg.au_thresholds)
    scored = [j for j in range(len(model.cfg.aus)) if np.nansum(data.labels[:, j] > 0.5) >= 3]
    numbers = [model.cfg.aus[j] for j in scored]

    def mean_f1(**options):
        p = predict_au(model, data, **options)
        return au_scores(data.labels[:, scored], p[:, scored], numbers, thresholds[scored])["mean_f1"]

    assert len(scored) >= 3
    assert mean_f1() > mean_f1(zero_regions=True) + 0.15


@needs_shared
def test_blinks_and_closed_eyes_are_read_from_the_eyelids():
    """liveportrait_d9, labelled by eye: blinks at frames 15, 45, 195, 525 (1-based), eyes open at
    5, 25, 75, 505. AU45 follows the eyelids; AU43 only once the eyes stay shut."""
    from core.analysis import Analysis, run_analysis
    from core.video import open_source

    scorer = FaceScorer(default_model_dir())
    with open_source(str(SHARED_DATA / "videos" / "liveportrait_d9.mp4")) as source, FaceTracker(max_faces=1) as t:
        analysis = Analysis.for_scorer(scorer, source.frame_count)
        run_analysis(source, analysis, t, scorer)

    def au(frame, n):
        return analysis.at(frame - 1).faces[0].au[n]

    assert all(au(f, 45) >= 0.5 for f in (15, 45, 195, 525))
    assert all(au(f, 45) < 0.5 for f in (5, 25, 75, 505))
    assert all(au(f, 43) < 0.5 for f in (15, 45, 195))  # brief blinks, not closed eyes
