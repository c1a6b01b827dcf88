//! The schemas of the stored tables are a contract: users write SQL against their
//! names, and the store's files carry their types. This compares each with a written-out
//! snapshot of every column's name, type and nullability (`TABLE_schema.snapshot`), so a
//! change to a column list is a deliberate edit of its snapshot too, never a side effect.
//!
//! After an intended change: `PLUMB_UPDATE_SNAPSHOT=1 cargo test -p plumb-collector --test
//! schema_snapshot`, then review the diff of the snapshots.

use arrow::datatypes::{DataType, Field, TimeUnit};

use plumb_collector::schema::Table;

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
fn every_table_schema_matches_its_snapshot() {
    for table in Table::ALL {
        let now: String = table
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let null = if f.is_nullable() { "" } else { " not null" };
                format!("{}: {}{null}\n", f.name(), type_name(f.data_type()))
            })
            .collect();
        let path = format!("{}/tests/{}_schema.snapshot", env!("CARGO_MANIFEST_DIR"), table.name());
        if std::env::var("PLUMB_UPDATE_SNAPSHOT").as_deref() == Ok("1") {
            std::fs::write(&path, &now).expect("write the snapshot");
            continue;
        }
        let written = std::fs::read_to_string(&path).expect("the snapshot file is in the repository");
        assert_eq!(
            now,
            written,
            "the {} schema changed; if intended, run with PLUMB_UPDATE_SNAPSHOT=1 and review the snapshot's diff",
            table.name()
        );
    }
}
