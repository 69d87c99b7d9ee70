"""The HTTP app: a drawing page, ``POST /api/predict``, ``GET /api/health``, ``GET /api/model``, ``/docs``.

The run's model is loaded once, when the app is made; every request only preprocesses its image and runs
one forward pass. In front of the routes stand the guards (serve/guards.py): a ``Host`` allowlist and a
cross-origin check, a limit on requests at once, and a body limited in bytes and in time. Images are
limited in pixels (checked from the image header, before the pixels are decoded). Every refusal is a 4xx
(or 503) with ``{"error": "<one line>"}``, and the OpenAPI schema (serve/schemas.py) documents each one.

Example:
    >>> from cnnlab.serve.server import make_server
    >>> make_server(create_app("runs/demo")).run()  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from cnnlab.evaluation import Predictor
from cnnlab.images.explain import explain_image
from cnnlab.images.predict import style_for
from cnnlab.images.preprocess import BlankImageError, ImageError, ImageTooLargeError, preprocess_image
from cnnlab.serve.guards import BodyGuard, ConcurrencyLimit, HostGuard, error_response
from cnnlab.serve.schemas import COMMON_REFUSALS, UPLOAD_REFUSALS, Health, ModelInfo, Prediction, error_responses

MAX_BYTES = 5 * 1024 * 1024  # the largest upload accepted
MAX_SIDE = 4096  # the widest or tallest image accepted, in pixels
MAX_CONCURRENT = 64  # requests in flight at once; more get 503 at once
BODY_TIMEOUT = 20.0  # seconds from a request's start until its whole body must have arrived
STATIC = Path(__file__).parent / "static"


class ImagePredictor:
    """The run's model, loaded once; turns image bytes into a prediction."""

    def __init__(self, run) -> None:
        self.run = run
        self.class_names = list(run.class_names)
        self.style = style_for(run)
        self._predictor = Predictor(run.load_model())
        self._predictor.probabilities(np.zeros((1, 28, 28), np.uint8))  # trace now, not on the first request

    def predict(self, data: bytes, max_side: int = MAX_SIDE) -> dict[str, Any]:
        prepared = preprocess_image(data, style=self.style, max_side=max_side)
        probabilities = self._predictor.probabilities(prepared.model_input[None])[0]
        label = int(np.argmax(probabilities))
        return {
            "label": label,
            "class_name": self.class_names[label],
            "confidence": float(probabilities[label]),
            "probabilities": [float(p) for p in probabilities],
            "preview": _png_data_url(prepared.preview),
            "removed": _png_data_url(explain_image(prepared)),
            "inverted": prepared.inverted,
        }


def create_app(run_dir: str | os.PathLike, *, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE,
               max_concurrent: int = MAX_CONCURRENT, body_timeout: float = BODY_TIMEOUT,
               allowed_hosts: Iterable[str] = ()) -> FastAPI:
    """A FastAPI app serving one run (loads the model now; raises RunError if ``run_dir`` is not a run).

    Args:
        run_dir: the run directory.
        max_bytes: the largest request body, in bytes.
        max_side: the widest or tallest image, in pixels.
        max_concurrent: requests in flight at once; more are answered 503.
        body_timeout: seconds from a request's start until its body must have arrived (else 408).
        allowed_hosts: ``Host`` names answered besides 127.0.0.1, localhost and [::1] (e.g. the bind address).
    """
    from cnnlab.run import Run

    run = Run.load(run_dir)
    predictor = ImagePredictor(run)
    name = run.path.name  # answers name the run by its folder only: no file-system path leaves the server
    summary = {k: v for k, v in run.summary().items() if k != "run_dir"}
    app = FastAPI(title="cnnlab", version="1", docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  description=f"Predictions from the run {name}: {summary['model']} on {summary['dataset']}. "
                              'Every refusal is `{"error": "<one line>"}`.')
    # added innermost first: a request meets the Host check, then the concurrency limit, then the body guard
    app.add_middleware(BodyGuard, max_bytes=max_bytes, timeout=body_timeout)
    app.add_middleware(ConcurrencyLimit, limit=max_concurrent)
    app.add_middleware(HostGuard, allowed=allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        missing = [".".join(str(p) for p in e.get("loc", ())) for e in err.errors()]
        return error_response(400, "send the image as a multipart/form-data file field named 'image' (problem "
                                   f"with: {', '.join(missing) or 'the request'})")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException) -> JSONResponse:
        """FastAPI's own refusals (unknown path, wrong method, unreadable multipart) in the same {"error"} form."""
        where = f"{request.method} {_printable(request.url.path)}"
        messages = {404: f"no such endpoint: {where}; see /docs",
                    405: f"{where} is not allowed; see /docs for each endpoint's method"}
        message = messages.get(err.status_code) or (
            "the request body is not valid multipart/form-data; send the image as a file field named 'image'"
            if err.status_code == 400 else " ".join(str(err.detail).split()))
        return error_response(err.status_code, message, headers=err.headers)  # 405 keeps its Allow header

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception) -> JSONResponse:
        """The last resort, never meant to run: even a bug answers in the API's form, not in plain text."""
        return error_response(500, f"internal error ({type(err).__name__}) while answering "
                                   f"{request.method} {_printable(request.url.path)}; please report it", close=True)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the package's own copy (static/swagger-ui): nothing is fetched from elsewhere."""
        return get_swagger_ui_html(openapi_url="/openapi.json", title="cnnlab API",
                                   swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger-ui/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # no call to an online validator

    @app.get("/api/health", response_model=Health, responses=error_responses(COMMON_REFUSALS))
    def health() -> dict[str, Any]:
        """Liveness: the model is loaded and answering."""
        return {"status": "ok", "run": name, "classes": len(predictor.class_names)}

    @app.get("/api/model", response_model=ModelInfo, responses=error_responses(COMMON_REFUSALS))
    def model_info() -> dict[str, Any]:
        """The run's summary: dataset, model, parameters, accuracy, class names; the upload limits."""
        return {"run": name, **summary, "preprocessing": predictor.style, "max_bytes": max_bytes,
                "max_side": max_side}

    @app.post("/api/predict", response_model=Prediction, responses=error_responses(UPLOAD_REFUSALS))
    def predict(image: UploadFile = File(..., description="a PNG, JPEG, BMP, GIF, TIFF, WebP or PNM image")) -> Any:
        """Classify one image: ``label``, ``class_name``, one ``probabilities`` entry per class, the 28x28
        ``preview``. A refusal is ``{"error": "<one line>"}`` with the status listed below."""
        data = image.file.read(max_bytes + 1)  # a sync endpoint runs in a worker thread: blocking is fine
        if len(data) > max_bytes:
            return error_response(413, f"the image is larger than {max_bytes / (1024 * 1024):g} MB; "
                                       "send a smaller file")
        if not data:
            return error_response(400, "the image is empty (0 bytes); send a PNG, JPEG, BMP or GIF file")
        try:
            return predictor.predict(data, max_side)
        except BlankImageError as err:
            return error_response(422, str(err))
        except ImageTooLargeError as err:
            return error_response(413, str(err))
        except ImageError as err:
            return error_response(400, str(err))
        except MemoryError:
            return error_response(413, "the image needs more memory to process than there is; send a smaller one")

    return app


def _printable(text: str, limit: int = 200) -> str:
    """A client's path as it may appear in a one-line message: no control characters (``%0A`` decodes to one)."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _png_data_url(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
