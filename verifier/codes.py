"""The verifier's stable error codes. A code never changes meaning; new checks get new
codes. Each failure the verifier reports carries one, with the file, batch or row."""

from __future__ import annotations

from pydantic import BaseModel, Field

#: code → (中文, English): what failed
CODES: dict[str, tuple[str, str]] = {
    "E_BUNDLE_LAYOUT": (
        "证据包结构错误",
        "the bundle is not a directory or archive with a statement",
    ),
    "E_ARCHIVE_UNSAFE": (
        "归档成员不安全",
        "an archive member has an absolute path, '..', a link, or repeats a name",
    ),
    "E_ARCHIVE_MEMBERS": ("归档成员过多", "the archive holds more members than the limit"),
    "E_ARCHIVE_MEMBER_SIZE": ("归档成员过大", "an archive member is larger than the limit"),
    "E_ARCHIVE_SIZE": ("归档解压过大", "the archive inflates to more bytes than the limit"),
    "E_ARCHIVE_RATIO": ("压缩比异常", "the archive inflates far more than honest data does"),
    "E_ENVELOPE_FORMAT": ("签名信封格式错误", "statement.dsse.json is not a valid DSSE envelope"),
    "E_ENVELOPE_UNSIGNED": ("签名信封无签名", "the envelope carries no signature"),
    "E_ENVELOPE_SIG": ("签名信封验签失败", "no envelope signature verifies with a trusted key"),
    "E_STATEMENT_FORMAT": ("声明格式错误", "the payload is not a pilotproof in-toto Statement v1"),
    "E_SUBJECT_MISSING": ("文件缺失", "a file the statement lists is not in the bundle"),
    "E_SUBJECT_DIGEST": ("文件摘要不符", "a file's SHA-256 differs from the statement's"),
    "E_FILE_UNLISTED": ("多余文件", "a file in the bundle is not listed in the statement"),
    "E_RECORD_FORMAT": ("批次记录格式错误", "a line of chain/records.jsonl is not a batch record"),
    "E_AGENT_UNTRUSTED": ("采集代理不受信任", "no trusted key is named for the agent"),
    "E_RECORD_UNSIGNED": ("批次记录无签名", "a batch record has no signature"),
    "E_RECORD_SIG": ("批次记录验签失败", "a batch record's signature does not verify"),
    "E_CHAIN_DUPLICATE": ("批次重复", "a batch sequence number appears twice"),
    "E_CHAIN_ORDER": ("批次顺序错误", "batch records are out of sequence order"),
    "E_CHAIN_GAP": ("批次缺失", "a sequence number is missing from the chain"),
    "E_CHAIN_PREV": ("哈希链断裂", "a record's prev is not the previous record's hash"),
    "E_CHAIN_TIME": ("时间不单调", "a record's times go backwards or first > last"),
    "E_CHAIN_HEAD": ("链头不符", "the records are not the chains the statement names"),
    "E_CHAIN_MISSING": (
        "采集代理链缺失",
        "an agent trusted at the site has no chain in the bundle",
    ),
    "E_WINDOW_START": ("窗口起点未覆盖", "the chain does not reach back before the window"),
    "E_CHAIN_TRUNCATED": ("链尾被截断", "no checkpoint record after the window's end"),
    "E_CHAIN_EPOCH": ("链纪元未声明", "an agent's chain restarts in the range, undeclared"),
    "E_BATCH_MISSING": ("批次数据缺失", "a batch in the window has no lines file"),
    "E_BATCH_UNEXPECTED": ("多余批次数据", "a lines file belongs to no record in the window"),
    "E_BATCH_FORMAT": ("批次数据格式错误", "a lines file is not gzip of canonical lines"),
    "E_BATCH_COUNT": ("批次行数不符", "a batch has a different number of lines than n"),
    "E_BATCH_ROOT": ("默克尔根不符", "the Merkle root of a batch's lines differs from its record"),
    "E_BATCH_TIME": ("批次时间不符", "a line's time is outside its record's first/last"),
    "E_INVENTORY_MISMATCH": (
        "清单不一致",
        "the statement's inventory is not the one the auditor pinned",
    ),
    "E_CATALOG_DIGEST": ("指标目录不一致", "the statement was computed with another KPI catalog"),
    "E_PROFILE_UNKNOWN": ("申报类别未知", "the statement's profile is not known to this verifier"),
    "E_KPI_MISSING": ("指标缺失", "a KPI is in the statement or the recomputation, not both"),
    "E_KPI_MISMATCH": (
        "指标复算不符",
        "a KPI recomputed from the lines differs from the statement",
    ),
}


#: warnings: what a valid signature cannot prove, for the auditor to look at
WARNINGS: dict[str, tuple[str, str]] = {
    "W_INVENTORY_NOT_PINNED": ("清单未核对", "KPIs use the inventory the bundle signer supplied"),
    "W_PARAMS_NOT_DEFAULT": ("参数非默认", "KPI parameters differ from the documented defaults"),
    "W_CHAIN_STARTS_INSIDE": ("链起点在窗口内", "an agent's chain begins inside the data range"),
    "W_CHAIN_EPOCH": ("链纪元更替", "an agent's buffer was lost and a new chain begun"),
    "W_UNDECLARED_ELEMENTS": (
        "存在未申报要素",
        "elements report status but are not in the inventory",
    ),
}


class Finding(BaseModel):
    """One failed check: its stable code, where (file, batch or row) and what was seen."""

    code: str
    where: str
    message: str

    @property
    def label_zh(self) -> str:
        return {**CODES, **WARNINGS}[self.code][0]


class Check(BaseModel):
    """One stage of verification and how it went."""

    name: str
    name_zh: str
    ok: bool
    detail: str = ""
    findings: list[Finding] = Field(default_factory=list)
