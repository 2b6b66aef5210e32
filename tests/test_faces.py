"""Face finding, landmarks, pose, alignment and regions on real photos."""
import cv2
import numpy as np
import pytest

from core.faces import FaceTracker, align_face, region_polygons, transform_points
from core.faces.align import TEMPLATE
from core.faces.landmarks import five_points
from core.faces.tracking import IdAssigner

from .conftest import SHARED_DATA, needs_shared


@pytest.fixture(scope="module")
def photo_tracker():
    with FaceTracker(static=True) as tracker:
        yield tracker


def rotate(image, degrees):
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))


def test_astronaut_face_found_with_landmarks_inside(photo_tracker, astronaut):
    faces = photo_tracker.process(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.confidence > 0.8
    assert face.landmarks.shape == (478, 3)
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 220  # her face, not the flag or the helmet
    pts = face.points68
    assert pts.shape == (68, 2)
    # iBUG order: right eye corners 36/39 left of left eye corners 42/45 in the image, mouth below the eyes
    assert pts[36, 0] < pts[39, 0] < pts[42, 0] < pts[45, 0]
    assert pts[48:60, 1].mean() > pts[36:48, 1].mean() + 20


def test_roll_follows_in_plane_rotation(photo_tracker, astronaut):
    base = photo_tracker.process(astronaut)[0].pose
    for degrees in (-20, 20):
        pose = photo_tracker.process(rotate(astronaut, degrees))[0].pose
        # cv2 turns positive angles counter-clockwise: roll (clockwise positive) goes down
        assert pose.roll - base.roll == pytest.approx(-degrees, abs=4)
        assert abs(pose.pitch - base.pitch) < 6


def test_mirror_flips_yaw_and_roll(photo_tracker, astronaut):
    base = photo_tracker.process(rotate(astronaut, 20))[0].pose
    mirrored = photo_tracker.process(np.ascontiguousarray(rotate(astronaut, 20)[:, ::-1]))[0].pose
    assert mirrored.roll == pytest.approx(-base.roll, abs=4)
    assert mirrored.yaw == pytest.approx(-base.yaw, abs=4)


def test_alignment_puts_eyes_and_mouth_on_the_template(photo_tracker, astronaut):
    for degrees in (0, 25):
        image = rotate(astronaut, degrees)
        face = photo_tracker.process(image)[0]
        crop, matrix = align_face(image, face.landmarks, 112)
        assert crop.shape == (112, 112, 3)
        landed = transform_points(five_points(face.landmarks), matrix)
        error = np.abs(landed - TEMPLATE * 112)  # pixels, in a 112 px crop
        assert error[:2].max() < 4   # eyes: the most stable points
        assert error.max() < 8        # nose and mouth move with expression (she smiles broadly)
        # and the crop is upright: a face is found in it again, with eyes level
        again = photo_tracker.process(cv2.resize(crop, (336, 336)))
        assert len(again) == 1 and abs(again[0].pose.roll) < 6


def test_au_regions_are_polygons_on_the_face(photo_tracker, astronaut):
    face = photo_tracker.process(astronaut)[0]
    x0, y0, x1, y1 = face.box
    brows = region_polygons(face.landmarks, "inner_brows")
    lips = region_polygons(face.landmarks, "lips")
    assert len(brows) == 2 and len(lips) == 1
    for poly in brows + lips:
        assert poly.shape[1] == 2 and len(poly) >= 3
        assert (poly[:, 0] >= x0 - 1).all() and (poly[:, 0] <= x1 + 1).all()
        assert (poly[:, 1] >= y0 - 1).all() and (poly[:, 1] <= y1 + 1).all()
    assert brows[0][:, 1].mean() < lips[0][:, 1].mean() - 30  # brows above the lips
    assert brows[0][:, 0].mean() < brows[1][:, 0].mean()      # subject's right brow on the image left


def test_region_centres_are_each_patch_s_mean_bit_for_bit(photo_tracker, astronaut):
    """The patches are averaged a size at a time: the model must still see each patch's own mean."""
    from core.faces import REGIONS, region_centers

    landmarks = photo_tracker.process(astronaut)[0].landmarks
    for points in (landmarks, landmarks[:, :2].astype(np.float64) * 1.37 + 11.1):  # float32 and float64
        centers = region_centers(points)
        assert list(centers) == list(REGIONS)
        for name, patches in REGIONS.items():
            expected = np.stack([points[list(p), :2].mean(axis=0) for p in patches])
            assert centers[name].dtype == expected.dtype and np.array_equal(centers[name], expected)
    assert region_centers(landmarks)["lips"][0][1] > region_centers(landmarks)["inner_brows"][0][1] + 30


def test_no_face_in_blank_image(photo_tracker):
    assert photo_tracker.process(np.full((240, 320, 3), 128, np.uint8)) == []


def test_track_ids_stay_with_each_face_across_frames(face_crop):
    """Two faces cross the frame in opposite directions, one above the other; each keeps its id."""
    small = cv2.resize(face_crop, (170, 170))
    frames = []
    for i in range(10):
        canvas = np.full((480, 640, 3), 90, np.uint8)
        xa, xb = 10 + 45 * i, 460 - 45 * i  # 45 px a frame: 0.7 face widths
        canvas[20:190, xa:xa + 170] = small
        canvas[280:450, xb:xb + 170] = small
        frames.append(canvas)
    with FaceTracker() as tracker:
        seen = [tracker.process(f) for f in frames]
    assert all(len(faces) == 2 for faces in seen)
    upper_ids = {min(faces, key=lambda f: f.box[1]).track_id for faces in seen}
    lower_ids = {max(faces, key=lambda f: f.box[1]).track_id for faces in seen}
    assert len(upper_ids) == 1 and len(lower_ids) == 1 and upper_ids != lower_ids


def test_id_assigner_retires_after_gap_and_never_reuses():
    ids = IdAssigner(max_gap=2)
    box = np.array([[0, 0, 10, 10]], float)
    assert ids.assign(box) == [0]
    assert ids.assign(box + 1) == [0]
    for _ in range(3):
        ids.assign(np.zeros((0, 4)))
    assert ids.assign(box) == [1]
    assert ids.assign(box + 100, may_start=[False]) == [-1]


@needs_shared
def test_group_photo_gives_distinct_faces(photo_tracker):
    rgb = cv2.cvtColor(cv2.imread(str(SHARED_DATA / "images" / "multi_face.jpg")), cv2.COLOR_BGR2RGB)
    faces = photo_tracker.process(rgb)
    assert len(faces) == 5
    assert len({f.track_id for f in faces}) == 5
    centres = sorted((f.box[0] + f.box[2]) / 2 for f in faces)
    assert min(np.diff(centres)) > 40  # five separate people, not one face found twice


@needs_shared
def test_following_faces_between_detections_keeps_tracks_and_landmarks():
    """Detectors every 5th frame, the mesh following each face in between (the default), against
    detectors on every frame: the same faces and ids on every frame of a real clip, and landmarks
    that differ by a few hundredths of the eye distance (two fits of one face, not a drift)."""
    from core.faces.geometry import eye_distance
    from core.video import open_source

    runs = {}
    for every in (1, 5):
        with open_source(SHARED_DATA / "videos" / "noface_face.mov") as source, FaceTracker(detect_every=every) as tracker:
            runs[every] = [tracker.process(frame.rgb) for frame in source]
    assert [[f.track_id for f in faces] for faces in runs[1]] == [[f.track_id for f in faces] for faces in runs[5]]
    shifts = [np.linalg.norm(a[0].landmarks[:, :2] - b[0].landmarks[:, :2], axis=1).mean() / eye_distance(a[0].landmarks)
              for a, b in zip(runs[1], runs[5]) if a]
    assert len(shifts) > 50 and np.median(shifts) < 0.02 and np.percentile(shifts, 95) < 0.05
