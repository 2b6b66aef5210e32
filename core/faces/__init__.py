"""Face finding, tracking, head pose, alignment and AU regions (MediaPipe, no Qt)."""
from .align import align_face, alignment_matrix, transform_points
from .pose import HeadPose, estimate_pose
from .regions import REGIONS, region_centers, region_polygons
from .tracker import Face, FaceTracker

__all__ = ["Face", "FaceTracker", "HeadPose", "estimate_pose", "align_face", "alignment_matrix",
           "transform_points", "REGIONS", "region_polygons", "region_centers"]
