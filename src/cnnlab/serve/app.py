"""The HTTP app: a drawing page, ``POST /api/predict``, ``GET /api/health``, ``GET /api/model``.

The run's model is loaded once, when the app is made; every request only preprocesses its image and runs
one forward pass. Uploads are limited in bytes (checked while the body streams in, before any decoding)
and in pixels (checked from the image header, before the pixels are decoded); every refusal is a 4xx
with ``{"error": "..."}`` and the server keeps serving.

Example:
    >>> import uvicorn
    >>> uvicorn.run(create_app("runs/demo"), host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from cnnlab.evaluation import Predictor
from cnnlab.images.predict import style_for
from cnnlab.images.preprocess import BlankImageError, ImageError, ImageTooLargeError, preprocess_image

MAX_BYTES = 5 * 1024 * 1024  # the largest upload accepted
MAX_SIDE = 4096  # the widest or tallest image accepted, in pixels
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
            "inverted": prepared.inverted,
        }


def create_app(run_dir: str | os.PathLike, *, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE) -> FastAPI:
    """A FastAPI app serving one run (loads the model now; raises RunError if ``run_dir`` is not a run)."""
    from cnnlab.run import Run

    run = Run.load(run_dir)
    predictor = ImagePredictor(run)
    summary = run.summary()
    app = FastAPI(title="cnnlab", version="1", description=f"Predictions from the run {run.path}: "
                  f"{summary['model']} on {summary['dataset']}.")
    app.add_middleware(_BodyLimit, max_bytes=max_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        missing = [".".join(str(p) for p in e.get("loc", ())) for e in err.errors()]
        return _error(422, f"send the image as a multipart/form-data field named 'image' (problem with: "
                           f"{', '.join(missing) or 'the request'})")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException) -> JSONResponse:
        """FastAPI's own refusals (unknown path, wrong method, unreadable multipart) in the same {"error"} form."""
        where = f"{request.method} {request.url.path}"
        messages = {404: f"no such endpoint: {where}; see /docs",
                    405: f"{where} is not allowed; see /docs for each endpoint's method"}
        message = messages.get(err.status_code) or (
            "the request body is not valid multipart/form-data; send the image as a field named 'image'"
            if err.status_code == 400 else str(err.detail))
        return _error(err.status_code, message)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """Liveness: the model is loaded and answering."""
        return {"status": "ok", "run_dir": str(run.path), "classes": len(predictor.class_names)}

    @app.get("/api/model")
    def model_info() -> dict[str, Any]:
        """The run's summary: dataset, model, parameters, accuracy, class names."""
        return {**summary, "preprocessing": predictor.style, "max_bytes": max_bytes, "max_side": max_side}

    @app.post("/api/predict")
    def predict(image: UploadFile = File(..., description="a PNG, JPEG, BMP or GIF image")) -> Any:
        """Classify one image: ``label``, ``class_name``, ten ``probabilities`` and the 28x28 ``preview``."""
        data = image.file.read(max_bytes + 1)  # a sync endpoint runs in a worker thread: blocking is fine
        if len(data) > max_bytes:
            return _error(413, f"the image is larger than {max_bytes // (1024 * 1024)} MB; send a smaller file")
        if not data:
            return _error(400, "the image is empty (0 bytes); send a PNG, JPEG, BMP or GIF file")
        try:
            return predictor.predict(data, max_side)
        except BlankImageError as err:
            return _error(422, str(err))
        except ImageTooLargeError as err:
            return _error(413, str(err))
        except ImageError as err:
            return _error(400, str(err))

    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _png_data_url(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class _BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` (by Content-Length, or while streaming)."""

    slack = 64 * 1024  # multipart headers and boundaries around the file itself

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.limit = max_bytes + self.slack

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        received = 0
        too_large = refused = False

        async def counting_receive():
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                too_large = True
                raise _TooLarge()  # the framework may turn this into its own 400; we answer 413 instead
            return message

        async def guarded_send(message):
            nonlocal refused
            if too_large:
                if message["type"] == "http.response.start" and not refused:
                    refused = True
                    await self._refuse(send)
                return  # drop the app's own answer to the aborted body
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if not refused:
                await self._refuse(send)

    async def _refuse(self, send) -> None:
        response = _error(413, f"the request is larger than {(self.limit - self.slack) // (1024 * 1024)} MB; "
                               "send a smaller image")
        await response({"type": "http"}, None, send)


class _TooLarge(Exception):
    pass
