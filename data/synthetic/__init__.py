"""The built-in synthetic product-photo benchmark.

Items (handbags and small leather goods) are sampled as specifications (`spec`), each
view is rendered as a small physically-flavoured scene (albedo, height, gloss and metal
layers lit by one light, `scene` and `views`), then photographed through nuisances
(`photo`: light colour, exposure, perspective, blur, noise, JPEG), and written with a
manifest (`generate`). Counterfeits differ by subtle cues listed in the taxonomy.
"""

from data.synthetic.config import DIFFICULTIES, Difficulty, SynthConfig

__all__ = ["DIFFICULTIES", "Difficulty", "SynthConfig"]
