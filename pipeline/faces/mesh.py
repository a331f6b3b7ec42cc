"""The 468-point face mesh layout (MediaPipe's canonical topology): named index sets.

Facts of the published topology: point indices of the face oval, lips, eyes and
brows, and a 68-point correspondence (the dlib/iBUG layout: jaw 0-16, brows
17-26, nose 27-35, eyes 36-47, lips 48-67) so code written for 68 points runs
on the mesh. "Right"/"left" below are the subject's; on a frontal face the
subject's right is image left.
"""

from __future__ import annotations

import numpy as np

N_MESH = 468

# Face outline, clockwise from the top of the forehead.
FACE_OVAL = np.array(
    [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
     148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
)
# Inner lip contour (the mouth opening), from the image-left corner along the upper lip.
LIPS_INNER = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95])
LIPS_OUTER = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146])
# Eye contours (subject's right eye = image left), corner first.
RIGHT_EYE = np.array([33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7])
LEFT_EYE = np.array([263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249])
NOSE_TIP = 1
MOUTH_CORNERS = (61, 291)  # image left, image right on a frontal face

# The 68-point layout from the mesh (one mesh point per dlib point).
MESH_TO_68 = np.array(
    [162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw
     71, 63, 105, 66, 107, 336, 296, 334, 293, 301,  # brows
     168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose
     33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes
     61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lip
     78, 82, 13, 312, 308, 317, 14, 87]  # inner lip
)

# Eye aspect ratio points (p1..p6 of the usual EAR: corner, two upper, corner, two lower).
EAR_RIGHT = np.array([33, 160, 158, 133, 153, 144])
EAR_LEFT = np.array([362, 385, 387, 263, 373, 380])


def mesh_to_68(mesh: np.ndarray) -> np.ndarray:
    """The 68-point layout (x, y) from a (468, 2|3) mesh."""
    return np.asarray(mesh, np.float64)[MESH_TO_68, :2].copy()


def kps5_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """kps5 (image-left eye, image-right eye, nose tip, image-left / image-right mouth corner)."""
    p = np.asarray(mesh, np.float64)[:, :2]
    a, b = p[RIGHT_EYE].mean(0), p[LEFT_EYE].mean(0)
    m0, m1 = p[MOUTH_CORNERS[0]], p[MOUTH_CORNERS[1]]
    left_eye, right_eye = (a, b) if a[0] <= b[0] else (b, a)
    left_mouth, right_mouth = (m0, m1) if m0[0] <= m1[0] else (m1, m0)
    return np.stack([left_eye, right_eye, p[NOSE_TIP], left_mouth, right_mouth])


__all__ = [
    "EAR_LEFT", "EAR_RIGHT", "FACE_OVAL", "LEFT_EYE", "LIPS_INNER", "LIPS_OUTER", "MESH_TO_68", "N_MESH",
    "RIGHT_EYE", "kps5_from_mesh", "mesh_to_68",
]
