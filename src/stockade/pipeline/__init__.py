"""Pipeline files (``.stockade.yml``): models, strict loading with located errors, the job graph."""

from stockade.pipeline.loader import PIPELINE_FILENAME, load_pipeline, load_pipeline_file
from stockade.pipeline.models import (
    RESERVED_KEYS,
    TIER_NAMES,
    Job,
    JobEgress,
    JobResources,
    Pipeline,
    Step,
)
from stockade.pipeline.problems import FileProblems, PipelineError, Problem
from stockade.pipeline.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "PIPELINE_FILENAME",
    "RESERVED_KEYS",
    "TIER_NAMES",
    "FileProblems",
    "Job",
    "JobEgress",
    "JobResources",
    "Pipeline",
    "PipelineError",
    "Problem",
    "Step",
    "format_duration",
    "format_size",
    "load_pipeline",
    "load_pipeline_file",
    "parse_duration",
    "parse_size",
]
