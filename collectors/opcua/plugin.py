"""The OPC UA driver's descriptor (see `collectors.plugin`)."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.opcua.identity import load_user_identity
from collectors.opcua.settings import OPCUA_PATHS, OpcUaNode, OpcUaSource, node_id_warning
from collectors.plugin import DriverPlugin, each_source, register
from collectors.settings import unwritable


def _summary(o: OpcUaSource) -> str:
    trust = f", servers trusted from {o.trust_dir}" if o.trust_dir else ""
    return f"{o.url} ({o.security}, {o.auth}{trust}): {len(o.nodes)} node(s), {o.mode}"


def _warnings(o: OpcUaSource) -> list[str]:
    out: list[str] = []
    if o.trust_dir and not o.trust_dir.is_dir():
        out.append(
            f"trust_dir {o.trust_dir} does not exist yet: every server is refused until its "
            "certificate is put in it"
        )
    out += [f"{n.element}.{n.point}: {w}" for n in o.nodes if (w := node_id_warning(n.node))]
    return out


def _preflight(sources: Sequence[OpcUaSource]) -> None:
    for o in sources:
        if o.user_certificate and o.user_key:
            load_user_identity(o.user_certificate, o.user_key)
        # a secured session makes the agent's certificate there on first connect
        if o.security != "None" and (problem := unwritable(o.cert_dir / "rejected")):
            raise ValueError(f"OPC UA source {o.name!r}: cert_dir = {o.cert_dir}: {problem}")


#: asyncua logs a lost session, an ended subscription and every untrusted certificate
#: (asyncuagds) as exceptions with tracebacks
QUIET = ("asyncua", "asyncua.client.ua_client", "asyncua.common.subscription",
         "asyncua.client.client", "asyncua.uaprotocol", "asyncuagds.validate")  # fmt: skip

OPCUA = register(
    DriverPlugin(
        name="opcua",
        settings=OpcUaSource,
        build=each_source("collectors.opcua.driver:OpcUaDriver"),  # loads user identities
        summary=_summary,
        nested=(("nodes", OpcUaNode),),
        paths=OPCUA_PATHS,
        warnings=_warnings,
        preflight=_preflight,
        quiet=QUIET,
    )
)
