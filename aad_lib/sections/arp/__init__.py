"""ARP / AAD: attention (Grad-CAM) under attack, incomplete attention as a predictor of
vulnerability, attacks that scatter attention, and the attention rectification and preservation
defense (Wu et al., "Attention, Please! Adversarial Defense via Activation Rectification and
Preservation", ACM TOMM 2023; notebook 04)."""
