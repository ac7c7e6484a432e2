"""Declared evidence: values an operator states, each with a reference to an attachment.

Patents, staff, contracts, cost savings and most qualitative requirements cannot be
measured from telemetry. The operator fills them in a YAML file; the evaluation shows
them as "declared, not measured" and checks only that they meet the threshold.

```yaml
declarations:
  operating_cost_reduction: {value: 0.22, attachment: "附件3 财务审计报告.pdf p.12"}
  it_ot_convergence_plan: {value: true, attachment: "附件5 IT/OT融合方案.pdf"}
  fiveg_data_exchange_business_links:
    options: [研发设计, 生产控制]
    attachment: "附件6 5G应用清单.xlsx"
```
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kpi.catalog import exact
from telemetry import yamlfile
from telemetry.errors import PilotproofError
from telemetry.inventory import file_errors


class Declaration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    value: Fraction | bool | None = Field(
        default=None, description="a number (0.22 = 22 %) or true/false"
    )
    options: tuple[str, ...] = Field(
        default=(), description="for 'at least k of' lists: the options implemented"
    )
    attachment: str = Field(min_length=1, description="the document that proves it")
    note: str = Field(default="", description="shown with the entry in the report")

    @field_validator("value", mode="before")
    @classmethod
    def _exact(cls, v: object) -> object:
        return v if isinstance(v, (str, Fraction)) else exact(v)


class Declarations(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    declarations: dict[str, Declaration] = Field(default_factory=dict)

    def get(self, entry_id: str) -> Declaration | None:
        return self.declarations.get(entry_id)


class DeclarationsError(PilotproofError, ValueError):
    code = "E_DECLARATIONS"

    pass


def load_declarations(path: Path) -> Declarations:
    hint = " (each item needs value or options, and an attachment)"
    with file_errors(path, DeclarationsError, "the declarations file", hint=hint):
        raw = yamlfile.load(path.read_text(encoding="utf-8")) or {}
        declarations = Declarations.model_validate(raw)
    return declarations
