"""Loading TensorFlow for a command: once its arguments were checked, and quietly unless ``--debug``.

The CLI itself never imports TensorFlow, so a mistyped option is refused before TensorFlow's seconds of start-up,
and the commands that need no TensorFlow (``data``, ``models``, ``compare``) never pay for it.
"""

from __future__ import annotations

from cnnlab.pretrained import resolve_run
from cnnlab.run import Run

RUN_HELP = "a run directory written by 'cnnlab train', or a bundled model's name (see 'cnnlab models')"


def load_tensorflow(debug: bool = False) -> None:
    """Import TensorFlow with its C++ start-up banner hidden and its Python logger at ERROR (e.g. the retracing
    notes of a process that trains many models); with ``debug`` both are left as TensorFlow has them."""
    if debug:
        import tensorflow  # noqa: F401

        return
    from cnnlab.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def open_run(path: str, debug: bool = False, writable: bool = False) -> Run:
    """The run at ``path`` (or the bundled model of that name; with ``writable`` its copy in the user cache, for a
    command that writes into the run), then TensorFlow: a wrong path is refused before TensorFlow's start-up."""
    run = Run.load(resolve_run(path, writable))
    load_tensorflow(debug)
    return run
