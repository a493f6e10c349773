"""The built-in synthetic product-photo benchmark.

Items (handbags and small leather goods) are sampled as specifications (`spec`), each
view is rendered as a small physically-flavoured scene (albedo, height, gloss and metal
layers lit by one light, `scene` and `views`), then photographed through nuisances
(`photo`: light colour, exposure, perspective, blur, noise, JPEG), and written with a
manifest (`generate`). Counterfeits differ by subtle cues listed in the taxonomy.

Where things live: `spec` samples an item and `cues` says what each counterfeit cue does
to it; `views` maps each view to its renderer (`view_overall`, `view_hardware`,
`view_stamp`, `view_detail`), built from `studio` (the context and backdrop), `materials`
(leather, stitches, metal, screws, engraving), `hardware` (the outline of each hardware
type), `defects` (wear and damage), `text` (lettering) and `textures`.
"""

from data.synthetic.config import DIFFICULTIES, Difficulty, SynthConfig

__all__ = ["DIFFICULTIES", "Difficulty", "SynthConfig"]
