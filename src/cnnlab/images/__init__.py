"""Real images -> model inputs (``preprocess``) and predictions on files and folders (``predict``)."""
