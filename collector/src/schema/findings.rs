//! The `findings` table: what the analyzer found, one row per finding per analysis run,
//! so problems have a history to query (`SELECT kind, subject, count(*) FROM findings
//! GROUP BY 1, 2`). The analyzer fills it; its columns follow its `Finding`.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};

use super::extra::NoExtra;
use super::kinds::{ColumnKind, Label, Text, Ts};

table_columns! {
    /// One finding as the analyzer fills it; `None` is stored as null.
    row FindingRow;
    /// Arrow builders for every column of `findings`.
    builders FindingBuilders;
    /// The Arrow schema of `findings` (shared, built once).
    schema schema;
    /// Names of the columns in schema order.
    names COLUMNS;
    extra NoExtra;

    /// When the analysis ran.
    time_received: Ts, required;
    /// When the evidence was first and last seen; null for configuration findings.
    window_start: Ts;
    window_end: Ts;
    /// `mtu.blackhole`, `nioc.contention`, `config.invalid`, ...
    kind: Label, required;
    /// The rule within the kind.
    rule: Label, required;
    /// `info`, `warning` or `critical`.
    severity: Label, required;
    /// What it is about: an uplink, an overlay, a path.
    subject: Text;
    /// The configuration keys involved, comma-separated.
    keys: Text;
    /// The numbers behind it, as a JSON object (`{"gap_bytes":50,...}`).
    evidence: Text;
    explanation: Text;
    fix: Text;
}
