"""Serving side of secondlook (onnxruntime, FastAPI), torch-free.

The reviewer panel on exported bundles (runner, bundle, registry), the verdict policy as pure
functions (verdict, quality, repeats, review), the API (api/), its store (store/), batch
re-scoring (batch/), the web page (web/) and the commands (cli/). See docs/architecture.md.
"""
