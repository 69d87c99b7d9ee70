"""Pictures of a run: figures (``plots``), the per-run HTML report (``report``) and run comparison (``compare``)."""
