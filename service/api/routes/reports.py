"""Dataset bias reports as asynchronous jobs: ``POST /v1/reports``, ``GET /v1/reports/{id}``.

The dataset is a folder on the server, named relative to ``PROVAUDIT_REPORTS_ROOT`` (or
absolute inside it); anything outside that root is refused with 403, and without the
setting reports are off (403). The report runs in a background worker; poll the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import ReadAccess, SettingsDep, WriteAccess
from service.api.errors import ApiError
from service.api.openapi import BODY, READ, WRITE, errors
from service.report_jobs import PathRefused, ReportJobs, ReportsDisabled
from service.report_store import ReportJob, utc

router = APIRouter(prefix="/v1", tags=["reports"])
NO_REPORT = errors(described={404: "No report with that id."})
FILES = {"report.html": "text/html; charset=utf-8", "images.csv": "text/csv; charset=utf-8"}


class ReportRequest(BaseModel):
    """What to report on; paths are server paths under the reports root."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="Folder of images, relative to the reports root.")
    attributes: str | None = Field(None, description="CSV/JSONL sidecar: path + attributes.")
    attribute_columns: list[str] | None = Field(None, description="Sidecar columns to use.")
    folder_attributes: list[str] = Field(default_factory=list, description="Folder level names.")
    splits: dict[str, str] = Field(default_factory=dict, description="Split name -> folder.")
    reference: str | None = Field(None, description="JSON {attribute: {value: share}}.")
    detector: bool = Field(False, description="Score images with the service's detector.")
    near_dup_hash: Literal["phash-centre", "pdq", "phash"] = "phash-centre"
    near_dup_threshold: int | None = Field(None, ge=0, le=127)
    bootstrap: int = Field(200, ge=10, le=10_000)
    confidence: float = Field(0.95, ge=0.5, lt=1.0)
    min_group_size: int = Field(30, ge=1)
    training_split: str | None = None
    seed: int = 0


def _jobs(request: Request) -> ReportJobs:
    jobs = getattr(request.app.state, "reports", None)
    if jobs is None:
        raise ApiError(503, "not_ready", "The service is still starting; try again shortly.")
    return jobs


def _resolve(jobs: ReportJobs, text: str, what: str) -> Path:
    try:
        return jobs.resolve(text, what)
    except ReportsDisabled as exc:
        raise ApiError(403, exc.code, str(exc)) from None
    except PathRefused as exc:
        raise ApiError(403, exc.code, str(exc)) from None
    except FileNotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


def _public(job: ReportJob, include_results: bool = True) -> dict[str, Any]:
    base = f"/v1/reports/{job.id}"
    out: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "created": utc(job.created),
        "started": utc(job.started),
        "finished": utc(job.finished),
        "progress": job.progress,
        "error": job.error,
        "request": job.request,
        "links": {"self": base},
    }
    if job.status == "done":
        out["links"].update(html=f"{base}/report.html", csv=f"{base}/images.csv")
        if include_results:
            out["results"] = job.result
    return out


@router.post(
    "/reports",
    status_code=202,
    dependencies=[WriteAccess],
    responses={
        **WRITE,
        **BODY,
        **errors(
            described={
                403: "No API keys are configured, reports are off (no PROVAUDIT_REPORTS_ROOT), "
                "or a path is outside the reports root.",
                404: "A path named in the request does not exist.",
            }
        ),
    },
)
async def create_report(
    body: ReportRequest, request: Request, settings: SettingsDep
) -> JSONResponse:
    """Queue a bias report of a server folder; 202 with the job id (poll ``GET``)."""
    from service.bias.options import ReportOptions

    jobs = _jobs(request)
    dataset = _resolve(jobs, body.dataset, "dataset")
    if not dataset.is_dir():
        raise ApiError(422, "bad_dataset", f"The dataset {body.dataset!r} is a file, not a folder.")
    detector = None
    if body.detector:
        detector = jobs.settings.detector
        if detector is None:
            raise ApiError(422, "no_detector", "The service has no detector checkpoint configured.")
    options = ReportOptions(
        dataset=dataset,
        attributes_file=_resolve(jobs, body.attributes, "attributes file")
        if body.attributes
        else None,
        attribute_columns=body.attribute_columns,
        folder_attributes=body.folder_attributes,
        splits=[
            (name, _resolve(jobs, path, f"split {name!r}")) for name, path in body.splits.items()
        ],
        detector=detector,
        reference_file=_resolve(jobs, body.reference, "reference file") if body.reference else None,
        near_dup_hash=body.near_dup_hash,
        near_dup_radius=body.near_dup_threshold,
        bootstrap=body.bootstrap,
        confidence=body.confidence,
        min_group_size=body.min_group_size,
        seed=body.seed,
        training_split=body.training_split,
    )
    options.validate()  # a BiasReportError becomes a 422 with its one sentence
    job = jobs.submit(body.model_dump(), options)
    return JSONResponse(
        _public(job, include_results=False),
        status_code=202,
        headers={"Location": f"/v1/reports/{job.id}"},
    )


@router.get("/reports/{report_id}", dependencies=[ReadAccess], responses={**READ, **NO_REPORT})
async def get_report(report_id: str, request: Request) -> dict[str, Any]:
    """Status (queued, running, done, failed), progress, and the report once done."""
    job = _jobs(request).get(report_id)
    if job is None:
        raise ApiError(404, "not_found", f"No report with id {report_id}.")
    return _public(job)


@router.get(
    "/reports/{report_id}/{name}",
    dependencies=[ReadAccess],
    response_class=Response,
    responses={
        200: {
            "content": {media_type.split(";")[0]: {} for media_type in FILES.values()},
            "description": "The file.",
        },
        **READ,
        **errors(
            described={
                404: f"No report with that id, or a name other than {' or '.join(FILES)}.",
                409: "The report is not done.",
            }
        ),
    },
)
async def get_report_file(report_id: str, name: str, request: Request) -> FileResponse:
    """``report.html`` (self-contained) or ``images.csv`` of a finished report."""
    jobs = _jobs(request)
    job = jobs.get(report_id)
    if job is None:
        raise ApiError(404, "not_found", f"No report with id {report_id}.")
    if name not in FILES:
        raise ApiError(404, "not_found", f"A report has {', '.join(FILES)}; not {name!r}.")
    if job.status != "done" or not job.out_dir:
        raise ApiError(409, "not_done", f"Report {report_id} is {job.status}, not done.")
    path = Path(job.out_dir) / name
    if not path.is_file():
        raise ApiError(404, "not_found", f"{name} of report {report_id} is gone.")
    return FileResponse(path, media_type=FILES[name])
