"""Image quality of a transformed image against the original, per image: PSNR and SSIM.

They quantify what a defense costs in fidelity (a WebP or JPEG quality sweep, bit depth, median
size) next to what it buys in accuracy. Both are computed in float64 and return a float64 tensor
of shape (N,) on the images' device.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..validation import AadError, check_images, check_positive

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` in dB.

    The MSE is taken over channels and pixels; ``inf`` for identical images. Computed in float64.

    Arguments:
        x (torch.Tensor): images in [0, 1].
        y (torch.Tensor): the images to compare with, same shape.
        data_range (float): the peak value, > 0. Default: 1.0.

    Shape:
        - x, y: (N, C, H, W), values in [0, 1].
        - returns: (N,) float64 on ``x``'s device.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import psnr
        >>> x = torch.full((1, 1, 4, 4), 0.5)
        >>> psnr(x, x + 0.1), psnr(x, x)
        (tensor([20.0000], dtype=torch.float64), tensor([inf], dtype=torch.float64))
    """
    x, y = _check_pair(x, y)
    data_range = check_positive(data_range, "data_range")
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    # log10 of 0 is -inf, so identical images come out as +inf without a special case.
    return 10.0 * (2.0 * math.log10(data_range) - torch.log10(mse))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (Wang et al., IEEE TIP 2004, Eq. 13 with the paper's settings).

    Wang, Bovik, Sheikh, Simoncelli, "Image Quality Assessment: From Error Visibility to Structural
    Similarity". An 11x11 Gaussian window of sigma 1.5, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``
    with ``L = data_range``, local statistics weighted by the window (population, not sample,
    variance).

    The SSIM map is computed per channel with "valid" padding, i.e. only where the window fits
    inside the image (as Wang et al.'s reference ``ssim_index.m``; skimage reflects and then crops
    the border, which is the same), then averaged over positions and channels. Images need at
    least 11 x 11 pixels. Computed in float64.

    Arguments:
        x (torch.Tensor): images in [0, 1].
        y (torch.Tensor): the images to compare with, same shape.
        data_range (float): the dynamic range ``L``, > 0. Default: 1.0.

    Shape:
        - x, y: (N, C, H, W), values in [0, 1], H and W >= 11.
        - returns: (N,) float64 on ``x``'s device, 1 for identical images.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import ssim
        >>> x = torch.rand(2, 3, 16, 16)
        >>> ssim(x, x)
        tensor([1., 1.], dtype=torch.float64)
        >>> bool((ssim(x, 0.5 * x) < 1).all())
        True
    """
    x, y = _check_pair(x, y)
    data_range = check_positive(data_range, "data_range")
    n, c, h, w = x.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise AadError(f"ssim needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (its Gaussian "
                       f"window, valid padding), got {h}x{w}.")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    x, y = x.reshape(n * c, 1, h, w), y.reshape(n * c, 1, h, w)
    # One separable filtering pass over all five statistics at once.
    stats = _gaussian_filter(torch.cat([x, y, x * x, y * y, x * y]))
    mu_x, mu_y, xx, yy, xy = stats.chunk(5)
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return ssim_map.reshape(n, c, -1).mean(dim=2).mean(dim=1)


def _gaussian_filter(images: torch.Tensor) -> torch.Tensor:
    """Valid 2-D filtering of (B, 1, H, W) images with the normalised 11x11 Gaussian, as two 1-D passes."""
    r = torch.arange(SSIM_WINDOW, dtype=images.dtype, device=images.device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-r.pow(2) / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    return F.conv2d(F.conv2d(images, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    check_images(x, "x")
    check_images(y, "y")
    if x.shape != y.shape:
        raise AadError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}.")
    return x.detach().double(), y.detach().to(x.device).double()
