"""Many runs at once: grid search with cross-validation, repeat groups over seeds, and their statistics."""
