"""deploy/sites/: a sample site config per profile, current with the catalog, each one
accepted by the agent's own loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors import load_site_config
from kpi import list_profiles, load_catalog
from pilotproof.site_samples import render_site_sample

SITES = Path(__file__).resolve().parents[1] / "deploy" / "sites"


def test_there_is_one_sample_per_profile_and_no_other() -> None:
    assert {p.stem for p in SITES.glob("*.toml")} == {p.id for p in list_profiles()}


@pytest.mark.parametrize("profile", list_profiles(), ids=lambda p: p.id)
def test_each_sample_is_current_and_loads(profile: object) -> None:
    path = SITES / f"{profile.id}.toml"  # type: ignore[attr-defined]
    assert path.read_text(encoding="utf-8") == render_site_sample(profile), (  # type: ignore[arg-type]
        "run `uv run pilotproof agent samples`"
    )
    config = load_site_config(path)
    assert config.inventory.elements
    catalog = load_catalog()
    methods = {
        b.method
        for e in profile.entries(catalog)  # type: ignore[attr-defined]
        if (b := catalog.binding(e)) is not None
    }
    subscribed = {s.format for s in config.sources.mqtt[0].subscriptions}
    assert ("identifier" in subscribed) == bool(
        methods & {"daily_resolutions", "registrations", "active_enterprises"}
    )
