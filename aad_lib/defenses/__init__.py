"""Input-transformation defenses (WebP, JPEG, flip, WebP + flip, bit depth, median smoothing),
a model behind a transform (:class:`Defended`), and image-quality metrics (PSNR, SSIM)."""
from .quality import psnr, ssim
from .transforms import (CODECS, NAMES, ORDERS, Defended, Transform, bit_depth, encoded_bytes, hflip,
                         identity, jpeg, make, median, webp, webp_flip)

__all__ = ["CODECS", "NAMES", "ORDERS", "Defended", "Transform", "bit_depth", "encoded_bytes", "hflip",
           "identity", "jpeg", "make", "median", "webp", "webp_flip", "psnr", "ssim"]
