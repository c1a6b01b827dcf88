//! The top layer of the NetFlow/IPFIX decoder: messages ([`v5`], [`v9`], [`ipfix`]) and
//! their sets ([`sets`]) into `flows` rows, with the plans and state below. Two paths
//! give the same rows: the row path ([`record`] then [`finalize`]) for every template,
//! the column-first path ([`columnar`]) for the common fixed-length one.

pub mod columnar;
pub mod finalize;
pub mod ipfix;
pub mod record;
pub mod sets;
pub mod v5;
pub mod v9;
