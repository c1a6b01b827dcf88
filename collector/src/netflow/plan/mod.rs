//! The middle layer of the NetFlow/IPFIX decoder: what each field of a template is for.
//! The IE registry ([`ie`]) gives a field its target, [`columns`] a target its column,
//! [`rules`] the times and counts; a template is compiled once, when it arrives, into a
//! [`record_plan::RecordPlan`] for the row path and, where it allows, a
//! [`column_plan::ColumnPlan`] for the column-first path.

pub mod column_plan;
pub mod columns;
pub mod ie;
pub mod record_plan;
pub mod rules;
