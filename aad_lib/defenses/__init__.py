"""Input-transformation defenses (WebP, JPEG, flip, WebP + flip, bit depth, median smoothing),
a model behind a transform (:class:`Defended`), image-quality metrics (PSNR, SSIM), and the learned
compression purifier ComDefend (Jia, Wei, Cao, Foroosh, "ComDefend: An Efficient Image Compression Model
to Defend Adversarial Examples", CVPR 2019) with the residual variants of the TensorFlow
re-implementation github.com/ZhangYuef/Comdefend_tensorflow."""
# Loaded on first use (PEP 562), so that importing one defense module (the ComDefend training
# recipe needs comdefend_loss and quality) does not make training depend on every defense.
import importlib

# Eager, because the module has the function's name: importing the module (the training recipe
# does) would otherwise leave `aad_lib.defenses.comdefend_loss` bound to the module.
from .comdefend_loss import comdefend_loss

_EXPORTS = {"CPU_PROFILE": "comdefend", "VARIANTS": "comdefend", "ComDefend": "comdefend", "psnr": "quality", "ssim": "quality",
            **{name: "transforms" for name in ("CODECS", "NAMES", "ORDERS", "Defended", "Transform", "bit_depth",
                                               "encoded_bytes", "hflip", "identity", "jpeg", "make", "median",
                                               "webp", "webp_flip")}}

__all__ = sorted([*_EXPORTS, "comdefend_loss"])


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
