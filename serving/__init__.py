"""Serving side of secondlook (onnxruntime, FastAPI), torch-free.

Filled by the export and appraisal API issues; nothing here yet.
"""
