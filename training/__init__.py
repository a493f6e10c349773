"""Training side of secondlook (torch, timm, albumentations, MLflow): the two reviewers.

Filled by the training issue; nothing here yet.
"""
