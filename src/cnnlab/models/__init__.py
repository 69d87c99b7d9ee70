"""The registered networks: ``create_model(name, **options)``, ``list_models()``, ``@register_model``.

Importing this package registers the built-in networks of ``zoo`` (the registry itself imports none of them).
"""

from cnnlab.models import zoo  # noqa: F401  (registers the built-in networks)
from cnnlab.models.registry import (check_model_options, create_model, list_models, model_names, model_options,
                                    register_model)

__all__ = ["check_model_options", "create_model", "list_models", "model_names", "model_options", "register_model"]
