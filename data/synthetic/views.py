"""The four views of an item, each rendered as a lit Scene; RENDERERS maps a view to its renderer.

overall: the whole item on a backdrop with clutter (view_overall); hardware: one piece of
metal hardware close up (view_hardware); stamp: the brand stamp close up (view_stamp);
detail: a worn edge with stitching (view_detail). Which counterfeit cues each view shows
follows the taxonomy's `visible_in`.

What they are built from: studio (Context, the backdrop), materials (leather, stitches,
metal, screws, engraving), hardware (the outline of each hardware type) and defects (wear).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from data.synthetic.scene import Scene
from data.synthetic.spec import ItemSpec
from data.synthetic.studio import Context
from data.synthetic.view_detail import render_detail
from data.synthetic.view_hardware import render_hardware
from data.synthetic.view_overall import render_overall
from data.synthetic.view_stamp import render_stamp

Renderer = Callable[[ItemSpec, np.random.Generator, Context], Scene]

RENDERERS: dict[str, Renderer] = {
    "overall": render_overall,
    "hardware": render_hardware,
    "stamp": render_stamp,
    "detail": render_detail,
}
