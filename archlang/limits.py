"""Limits that keep every check bounded in time and memory (all located errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    #: expanded op nodes in one network (50,000: dozens of times the largest torchvision
    #: CNN, and checked in about a second here)
    max_nodes: int = Field(50_000, ge=1)
    #: nesting of brackets, block calls and imports
    max_depth: int = Field(64, ge=1)
    #: iterations of one `for` loop, and elements of one list
    max_repeat: int = Field(100_000, ge=1)
    #: bytes of a spec and its imports together (100 kB: ten times the zoo's largest file,
    #: parsed in well under a second here)
    max_bytes: int = Field(100_000, ge=1)
    #: parameters and buffers of one network (10**9: 4 GB in float32, more than any
    #: torchvision model; counted as layers are made)
    max_params: int = Field(1_000_000_000, ge=1)
