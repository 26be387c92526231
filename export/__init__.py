"""ANSI/NIST-ITL 1-2011 (Update 2015) export of a form's prints for IABS."""

from ifb1.export.ansi_nist import (
    ExportConfig,
    ExportPrint,
    ParsedPrint,
    ParsedTransaction,
    build_transaction,
    parse_transaction,
    wsq_decode,
    wsq_encode,
    write_transaction,
)

__all__ = [
    "ExportConfig",
    "ExportPrint",
    "ParsedPrint",
    "ParsedTransaction",
    "build_transaction",
    "parse_transaction",
    "wsq_decode",
    "wsq_encode",
    "write_transaction",
]
