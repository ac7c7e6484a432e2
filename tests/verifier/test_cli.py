"""`pilotproof keys` and `pilotproof evidence` as an operator and an auditor run them."""

from __future__ import annotations

from pathlib import Path

from pilotproof import __version__
from tests.test_cli import run


def test_keys_evidence_build_and_verify_end_to_end(tmp_path: Path) -> None:
    builder, agent = tmp_path / "builder.key", tmp_path / "agent.key"
    r = run("keys", "gen", str(builder), "--name", "builder")
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'role = "verifier"' in r.stdout
    assert run("keys", "gen", str(builder)).returncode == 1  # never overwrites
    db = tmp_path / "s.db"
    r = run(
        "simulate", "backfill", "identifier-node", "--store", f"sqlite:{db}", "--days", "2",
        "--seal", str(agent), "--agent", "node-agent",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    trust = tmp_path / "keys.toml"
    from simulators import load_scenario

    site = load_scenario("identifier-node").site
    entries = [
        run("keys", "show", str(builder), "--name", "builder").stdout,
        # the agent pinned to its site: the bundle must carry its chain
        run("keys", "show", str(agent.with_suffix(".pub")), "--name", "node-agent",
            "--role", "agent", "--site", site).stdout,
    ]  # fmt: skip
    assert f'site = "{site}"' in entries[1]
    refused = run("keys", "show", str(builder), "--site", site)  # a verifier has no site
    assert refused.returncode == 2
    assert "--role agent" in refused.stdout + refused.stderr
    trust.write_text("\n".join(entries), encoding="utf-8")
    out = tmp_path / "bundle"
    r = run(
        "evidence", "build", "--profile", "miit-identifier-secondary-node",
        "--scenario", "identifier-node", "--store", f"sqlite:{db}", "--key", str(builder),
        "--out", str(out), "--from", "2026-10-30T00:00:00+08:00",
        "--to", "2026-10-31T00:00:00+08:00", "--tar", "--trust", str(trust),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VERIFIED" in r.stdout
    assert (tmp_path / "bundle.tar.gz").is_file()

    html = tmp_path / "verified.html"
    r = run("evidence", "verify", str(tmp_path / "bundle.tar.gz"), "--trust", str(trust),
            "--report", str(html))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "通过 · verified" in html.read_text(encoding="utf-8")
    # the signer by the name the auditor gave its key, not only its id
    assert "签名方 Signer: <strong>builder</strong>" in html.read_text(encoding="utf-8")
    report = html.read_text(encoding="utf-8")
    scenario = load_scenario("identifier-node")
    # times in the plant's zone, UTC beside them
    assert f"2026-10-30 00:00:00 ({scenario.timezone})" in report
    # the agent's chain, what verified of it and the span of its data
    chains = report.split("The agents' chains")[1].split("</table>")[0]
    assert "<td>node-agent</td>" in chains
    assert "2026-10-30" in chains
    # not pinned: the report says the KPIs use the signer's inventory
    assert "未核对" in report
    assert "--inventory" in report
    # parameters in words, a signature block, the version, page numbers when printed
    assert "80 % (4/5)" in report
    assert "数据覆盖要求" in report
    assert "签字 · Signatures" in report
    assert "签字/盖章" in report
    assert f"pilotproof {__version__}" in report
    assert "counter(pages)" in report
    # the rows behind each value, for the auditor's spot check
    assert "rows behind the value, by enterprise" in report
    # verified, yet not a pass: the report says why those differ
    assert "Verified means the data and the arithmetic are authentic" in report
    # pinned to the auditor's own copy of the filed inventory
    filed = tmp_path / "filed.json"
    filed.write_text(scenario.inventory().model_dump_json(), encoding="utf-8")
    pinned_html = tmp_path / "pinned.html"
    r = run("evidence", "verify", str(tmp_path / "bundle.tar.gz"), "--trust", str(trust),
            "--inventory", str(filed), "--report", str(pinned_html))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "逐项核对" in pinned_html.read_text(encoding="utf-8")

    (out / "report.html").write_text("edited", encoding="utf-8")
    rejected = tmp_path / "rejected.html"
    r = run("evidence", "verify", str(out), "--trust", str(trust), "--report", str(rejected))
    assert r.returncode == 1
    assert "E_SUBJECT_DIGEST" in r.stdout
    assert "NOT VERIFIED" in r.stdout
    # a refused bundle still gets its report: the document a rejection is filed with
    text = rejected.read_text(encoding="utf-8")
    assert "未通过 · NOT verified" in text
    assert "E_SUBJECT_DIGEST" in text
    assert "report.html" in text  # the file whose digest differs
    assert "statement not read" not in text  # the statement verified: its profile is named

    bad = tmp_path / "bad.toml"
    bad.write_text('[[key]]\nname = "x"\nrole = "boss"\npublic_key = "AA=="\n')
    r = run("evidence", "verify", str(out), "--trust", str(bad))
    assert r.returncode == 2
    assert "bad.toml" in r.stdout
    assert "role" in r.stdout
