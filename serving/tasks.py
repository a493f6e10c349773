"""The names of a reviewer's tasks and outputs, defined once for training, export and serving.

Each name is at once a head of the model, an output of its ONNX graph, a key of the bundle's
temperatures and the taxonomy list it predicts (`Taxonomy.classes(name)`). Classification
outputs are logits (softmax with the task's temperature); the condition grade is CORAL
cumulative logits; evidence is one logit per photo (sigmoid) combining the per-cue logits
(`cues`, one per counterfeit cue in taxonomy order); defects are per-class masks at 1/4 resolution.
"""

from __future__ import annotations

VIEW = "view"
CATEGORY = "category"
HARDWARE_TYPE = "hardware_type"
HARDWARE_FINISH = "hardware_finish"
STAMP_TYPE = "stamp_type"
CLASSIFICATION_TASKS = (VIEW, CATEGORY, HARDWARE_TYPE, HARDWARE_FINISH, STAMP_TYPE)
ORDINAL_TASK = "condition_grade"
EVIDENCE = "evidence"
CUES = "cues"  # per-cue logits, one per counterfeit cue in taxonomy order; evidence combines them
DEFECTS = "defects"
# A class-activation map is the output CAM_PREFIX + task (`cam_evidence`: where a photo's evidence lies).
CAM_PREFIX = "cam_"

# Item labels a photo shows only from some views (a close-up of a buckle shows no bag shape):
# trained, evaluated and reported on those views only.
VISIBLE_IN: dict[str, tuple[str, ...]] = {CATEGORY: ("overall",)}
