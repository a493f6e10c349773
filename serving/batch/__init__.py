"""Batch re-scoring of whole inventories (`secondlook rescore`): the API's code path at scale.

items (stream a manifest into items) -> prepare (decode, quality gate, preprocess; in worker
processes) -> ReviewerPanel.judge (shared onnxruntime batches) -> rows -> output (Parquet parts
committed atomically, resumable) -> diff (what changed between two runs).
"""
