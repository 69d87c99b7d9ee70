"""What the API answers, as pydantic models: the OpenAPI schema at ``/openapi.json`` is made from these, so
the schema and the answers cannot drift apart (the schemathesis test checks every answer against it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Every refusal, whatever its status."""

    model_config = ConfigDict(extra="forbid")
    error: str = Field(description="one line: what is wrong and what to do")


class Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: int = Field(description="the predicted class index (the digit itself for MNIST)")
    class_name: str
    confidence: float = Field(description="the predicted class's probability, 0 to 1")
    probabilities: list[float] = Field(description="one probability per class, in class order")
    preview: str = Field(description="the 28x28 model input as a PNG data URL")
    removed: str | None = Field(default=None, description="what preprocessing did, as a PNG data URL: the photo "
                                "with removed lines (red) and dropped ink (orange) marked, the light it evened "
                                "out, and the 28x28 input")
    inverted: bool = Field(description="the image was dark ink on light paper")


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(description='"ok" once the model is loaded and answering')
    run: str = Field(description="the run's folder name (never a file-system path)")
    classes: int


class ModelInfo(BaseModel):
    """The run's summary (the keys of ``Run.summary()`` less its path) and the upload limits."""

    model_config = ConfigDict(extra="allow")
    run: str = Field(description="the run's folder name (never a file-system path)")
    dataset: str
    model: str
    class_names: list[str]
    preprocessing: str = Field(description="digits or fashion: how an upload is turned into 28x28")
    max_bytes: int
    max_side: int


def error_responses(statuses: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for refusals: each status with its description and the ``{"error"}`` body."""
    return {status: {"model": ErrorBody, "description": description} for status, description in statuses.items()}


# Refusals any endpoint can give: made by the guards in front of the routes (serve/guards.py). A GET reads no
# body, so it cannot time out with 408 (a client too slow with its headers is disconnected without an answer).
COMMON_REFUSALS = {
    400: "the Host header is not one this server answers to (DNS rebinding guard)",
    503: "too many requests at once; try again",
}
UPLOAD_REFUSALS = {
    400: "not multipart/form-data with a file field 'image'; empty, unreadable or damaged image; or a Host "
         "header this server does not answer to",
    403: "a cross-origin request (an Origin header that is not this server's)",
    408: "the request body did not arrive in time",
    413: "the request is over the byte limit, or the image over the pixel limit (or a decompression bomb)",
    422: "the image has no ink (blank or uniform)",
    503: "too many requests at once; try again",
}
