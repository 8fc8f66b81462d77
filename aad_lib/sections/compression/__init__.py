"""Input-transformation and learned-compression defenses: WebP + flip (Yin et al., "Defense against
Adversarial Attacks by Low-level Image Transformations", Int. J. Intelligent Systems, 2020) and
ComDefend (Jia et al., CVPR 2019) beside JPEG, bit depth and median filtering, under the papers'
grey-box protocol and under adaptive attacks (BPDA, EOT; notebook 05)."""
