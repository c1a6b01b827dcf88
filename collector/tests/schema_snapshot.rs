//! The `flows` schema is a contract: users write SQL against its names, and the store's
//! files carry its types. This compares it with a written-out snapshot of every column's
//! name, type and nullability, so a change to the column list is a deliberate edit of
//! `flows_schema.snapshot` too, never a side effect.
//!
//! After an intended change: `PLUMB_UPDATE_SNAPSHOT=1 cargo test -p plumb-collector --test
//! schema_snapshot`, then review the diff of the snapshot.

use arrow::datatypes::{DataType, Field, TimeUnit};

use plumb_collector::schema::flows_schema;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flows_schema.snapshot");

/// A type in words that do not change with arrow-rs's `Debug` output.
fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Utf8 => "utf8".into(),
        DataType::Binary => "binary".into(),
        DataType::FixedSizeBinary(n) => format!("fixed_size_binary[{n}]"),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => format!("timestamp[us, {tz}]"),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) => {
                let inner: Vec<String> = fields.iter().map(|f| column(f)).collect();
                format!("map<{}>", inner.join(", "))
            }
            other => format!("map of {other:?}"),
        },
        other => format!("{other:?}"),
    }
}

fn column(f: &Field) -> String {
    let null = if f.is_nullable() { "" } else { " not null" };
    format!("{} {}{null}", f.name(), type_name(f.data_type()))
}

#[test]
fn flows_schema_matches_its_snapshot() {
    let now: String = flows_schema()
        .fields()
        .iter()
        .map(|f| {
            let null = if f.is_nullable() { "" } else { " not null" };
            format!("{}: {}{null}\n", f.name(), type_name(f.data_type()))
        })
        .collect();
    if std::env::var("PLUMB_UPDATE_SNAPSHOT").as_deref() == Ok("1") {
        std::fs::write(SNAPSHOT, &now).expect("write the snapshot");
        return;
    }
    let written = std::fs::read_to_string(SNAPSHOT).expect("the snapshot file is in the repository");
    assert_eq!(
        now, written,
        "the flows schema changed; if intended, run with PLUMB_UPDATE_SNAPSHOT=1 and review the snapshot's diff"
    );
}
