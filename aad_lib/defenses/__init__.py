"""Input-transformation defenses (WebP, JPEG, flip, WebP + flip, bit depth, median smoothing),
a model behind a transform (:class:`Defended`), image-quality metrics (PSNR, SSIM), and the learned
compression purifier ComDefend (Jia, Wei, Cao, Foroosh, "ComDefend: An Efficient Image Compression Model
to Defend Adversarial Examples", CVPR 2019) with the residual variants of the TensorFlow
re-implementation github.com/ZhangYuef/Comdefend_tensorflow."""
from .comdefend import CPU_PROFILE, VARIANTS, ComDefend
from .comdefend_loss import comdefend_loss
from .quality import psnr, ssim
from .transforms import (CODECS, NAMES, ORDERS, Defended, Transform, bit_depth, encoded_bytes, hflip,
                         identity, jpeg, make, median, webp, webp_flip)

__all__ = ["CODECS", "NAMES", "ORDERS", "Defended", "Transform", "bit_depth", "encoded_bytes", "hflip",
           "identity", "jpeg", "make", "median", "webp", "webp_flip", "psnr", "ssim",
           "ComDefend", "comdefend_loss", "CPU_PROFILE", "VARIANTS"]
