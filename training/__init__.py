"""Training side of secondlook (torch, timm, albumentations, MLflow): the two reviewers.

Configs (config), the model (model, weights), training (train, checkpoint), evaluation and
learning curves (evaluate, curves, report), and export to ONNX bundles (export, quantize).
See docs/architecture.md.
"""
